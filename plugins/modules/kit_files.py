"""Module kit_files: a role's files, directories and links in one remote run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kit_files
short_description: Write many files, directories and links in one run, only where they differ
description:
  - Applies a list of entries in order in a single module run. Each entry is a file with its
    content, a directory, a symbolic link or an absent path, with owner, group and mode.
  - A file is written only when its content differs (checksum) and then atomically (a temporary
    file next to the destination, the optional O(files[].validate) command run on it, then a
    rename). Owner, group and mode are corrected where they differ.
  - Parent directories are not created implicitly; list them as directory entries earlier in
    the list, or set O(files[].parents) on a directory entry.
  - The action plugin of the same name runs first on the controller. It renders
    O(files[].template) entries the way M(ansible.builtin.template) does (the role's
    C(templates/) directory first, the task's variables plus the entry's O(files[].vars)) and
    passes the rendered text as content.
  - Returns a changed flag per entry under its O(files[].key), so one task can notify handlers
    per file through result-reading tasks.
version_added: "1.0.0"
author: hardened.sessions contributors
options:
  files:
    description:
      - The entries, applied in order. One nesting level of lists is flattened, so a list built
        by a Jinja expression can sit between literal entries.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the destination.
        type: path
        required: true
      template:
        description:
          - A Jinja template rendered on the controller (looked up like M(ansible.builtin.template)'s
            O(ansible.builtin.template#module:src)). Mutually exclusive with O(files[].content) and
            O(files[].state).
        type: str
      vars:
        description: Variables available to this entry's O(files[].template) only (e.g. a loop item).
        type: dict
      content:
        description: The file's content as a string (at most 1 MiB).
        type: str
      state:
        description:
          - V(file) is implied by O(files[].template) and O(files[].content).
          - V(directory) creates the directory, V(absent) removes the path (a directory
            recursively), V(link) makes O(files[].path) a symbolic link to O(files[].src).
        type: str
        choices: [file, directory, absent, link]
      src:
        description: Target of a symbolic link (O(files[].state=link)).
        type: str
      parents:
        description:
          - For a directory, create missing parent directories with the same owner, group and mode
            (existing parents are left alone).
        type: bool
        default: false
      owner:
        description: Owner name (or uid). Left alone when omitted.
        type: str
      group:
        description: Group name (or gid). Left alone when omitted.
        type: str
      mode:
        description: Mode as an octal string such as V("0640") (or a symbolic mode). Left alone when omitted.
        type: raw
      validate:
        description:
          - Command run on the temporary file before it replaces the destination; V(%s) is the
            temporary file's path. A non-zero exit fails the task and leaves the destination untouched.
        type: str
      secret:
        description: The content is secret. Never diffed; the result holds only the changed flag and path.
        type: bool
        default: false
      key:
        description: Name of this entry's result under RV(files). Defaults to O(files[].path).
        type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Before and after text of files that are not secret; state, owner, group and mode changes.
  platform:
    platforms: posix
notes:
  - Use task-level C(no_log) when any content is secret; the module never returns content.
"""

EXAMPLES = r"""
- name: Write the app's directories and configuration in one run
  hardened.sessions.kit_files:
    files:
      - path: /etc/myapp
        state: directory
        owner: root
        group: root
        mode: "0755"
      - path: /etc/myapp/app.conf
        template: app.conf.j2
        vars:
          app: "{{ my_app }}"
        owner: root
        group: myapp
        mode: "0640"
        validate: /usr/bin/myapp --check %s
        key: app_conf
      - path: /etc/myapp/old.conf
        state: absent
  register: myapp_files

- name: Reload the app when its configuration changed
  ansible.builtin.debug:
    msg: app.conf changed
  changed_when: myapp_files.files.app_conf.changed
  notify: Reload myapp
"""

RETURN = r"""
files:
  description: One result per entry, under its O(files[].key).
  returned: always
  type: dict
  sample: {"app_conf": {"changed": true, "path": "/etc/myapp/app.conf", "state": "file"}}
  contains:
    changed:
      description: Whether the entry was (in check mode, would be) changed.
      type: bool
    path:
      description: The destination.
      type: str
    state:
      description: The entry's state (file, directory, absent, link).
      type: str
changed:
  description: Whether any entry changed.
  returned: always
  type: bool
diff:
  description: A list of before/after diffs, one per changed entry that is not secret (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
"""

import hashlib
import os
import shutil
import stat
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

MAX_CONTENT = 1024 * 1024
STATES = ("file", "directory", "absent", "link")


class EntryError(Exception):
    """An entry cannot be applied (the message names its path)."""


def _kind(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "other"


def _attrs(path: str) -> dict[str, Any]:
    """Owner, group and mode of an existing path, for the diff."""
    import grp
    import pwd

    st = os.lstat(path)
    try:
        owner: Any = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = st.st_uid
    try:
        group: Any = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = st.st_gid
    return {"owner": owner, "group": group, "mode": f"0{stat.S_IMODE(st.st_mode):03o}"}


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_CONTENT + 1)
    if len(data) > MAX_CONTENT:
        return "(more than 1 MiB: not shown)\n"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(binary: not shown)\n"


class Applier:
    """Applies the entries in order; collects results and diffs."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.check = module.check_mode
        self.results: dict[str, dict[str, Any]] = {}
        self.diffs: list[dict[str, Any]] = []

    def set_attrs(self, path: str, entry: dict[str, Any], changed: bool) -> bool:
        """Owner, group, mode where given and different (the module's own check-mode handling)."""
        m = self.module
        follow = entry["state"] != "link"
        if entry.get("owner") is not None:
            changed = m.set_owner_if_different(path, entry["owner"], changed, expand=False)
        if entry.get("group") is not None:
            changed = m.set_group_if_different(path, entry["group"], changed, expand=False)
        if entry.get("mode") is not None and follow:
            changed = m.set_mode_if_different(path, entry["mode"], changed, expand=False)
        return changed

    def attrs_differ(self, path: str, entry: dict[str, Any]) -> dict[str, Any]:
        """The subset of owner/group/mode that differs (for the diff), as before/after pairs."""
        if _kind(path) == "absent":
            return {}
        now = _attrs(path)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name in ("owner", "group"):
            want = entry.get(name)
            if want is not None and str(want) != str(now[name]):
                before[name], after[name] = now[name], want
        mode = entry.get("mode")
        if mode is not None and entry["state"] != "link":
            want_mode = str(mode)
            if want_mode.isdigit():
                want_mode = f"0{int(want_mode, 8):03o}"
                if want_mode != now["mode"]:
                    before["mode"], after["mode"] = now["mode"], want_mode
        return {"before": before, "after": after} if before else {}

    def add_diff(self, entry: dict[str, Any], before: Any, after: Any) -> None:
        if entry["secret"] or not self.module._diff:
            return
        self.diffs.append({"before_header": entry["path"], "after_header": entry["path"],
                           "before": before, "after": after})

    def apply(self, entry: dict[str, Any]) -> bool:
        state = entry["state"]
        if state == "file":
            return self.apply_file(entry)
        if state == "directory":
            return self.apply_directory(entry)
        if state == "link":
            return self.apply_link(entry)
        return self.apply_absent(entry)

    def apply_file(self, entry: dict[str, Any]) -> bool:
        path = entry["path"]
        data = to_bytes(entry["content"], errors="surrogate_or_strict")
        if len(data) > MAX_CONTENT:
            raise EntryError(f"{path}: content of {len(data)} bytes is larger than 1 MiB")
        kind = _kind(path)
        if kind not in ("absent", "file", "link"):
            raise EntryError(f"{path}: exists as a {kind}, not a file")
        parent = os.path.dirname(path) or "/"
        if not os.path.isdir(parent) and not self.check:
            raise EntryError(f"{path}: parent directory {parent} does not exist (list it as a directory entry first)")
        same = False
        if kind == "file":
            with open(path, "rb") as f:
                same = hashlib.sha1(f.read()).hexdigest() == hashlib.sha1(data).hexdigest()
        if same:
            attr_diff = self.attrs_differ(path, entry)
            changed = self.set_attrs(path, entry, False)
            if changed and attr_diff:
                self.add_diff(entry, attr_diff["before"], attr_diff["after"])
            return changed
        before = _read_text(path) if kind == "file" else ""
        self.add_diff(entry, before, entry["content"])
        if self.check:
            return True
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".kit")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            tmp_entry = dict(entry, state="file")
            self.set_attrs(tmp, tmp_entry, True)
            if entry.get("validate"):
                cmd = entry["validate"]
                if "%s" not in cmd:
                    raise EntryError(f"{path}: validate must contain %s")
                rc, out, err = self.module.run_command(cmd % tmp)
                if rc != 0:
                    raise EntryError(f"{path}: validate failed (rc {rc}): {to_native(err or out).strip()}")
            if kind == "link":
                os.unlink(path)
            # atomic_move gives a file it creates the umask's permissions
            # until the attributes below are set: keep that window private.
            umask = os.umask(0o077)
            try:
                self.module.atomic_move(tmp, path, keep_dest_attrs=False)
            finally:
                os.umask(umask)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        self.set_attrs(path, entry, True)
        return True

    def apply_directory(self, entry: dict[str, Any]) -> bool:
        path = entry["path"]
        kind = _kind(path)
        if kind == "directory":
            attr_diff = self.attrs_differ(path, entry)
            changed = self.set_attrs(path, entry, False)
            if changed and attr_diff:
                self.add_diff(entry, attr_diff["before"], attr_diff["after"])
            return changed
        if kind != "absent":
            raise EntryError(f"{path}: exists as a {kind}, not a directory")
        self.add_diff(entry, {"path": path, "state": "absent"}, {"path": path, "state": "directory"})
        if self.check:
            return True
        missing = []
        cur = path
        while not os.path.lexists(cur):
            missing.append(cur)
            cur = os.path.dirname(cur)
        if len(missing) > 1 and not entry["parents"]:
            raise EntryError(f"{path}: parent directory {os.path.dirname(path)} does not exist "
                             "(list it as a directory entry first or set parents)")
        for d in reversed(missing):
            # Private until its attributes are set (the umask's default without a mode).
            os.mkdir(d, 0o700 if entry.get("mode") is not None else 0o777)
            self.set_attrs(d, entry, True)
        return True

    def apply_link(self, entry: dict[str, Any]) -> bool:
        path, src = entry["path"], entry.get("src")
        if not src:
            raise EntryError(f"{path}: state link needs src")
        kind = _kind(path)
        if kind == "link" and os.readlink(path) == src:
            return self.set_attrs(path, entry, False)
        if kind not in ("absent", "link", "file"):
            raise EntryError(f"{path}: exists as a {kind}, not a link")
        before = {"path": path, "state": kind}
        if kind == "link":
            before["src"] = os.readlink(path)
        self.add_diff(entry, before, {"path": path, "state": "link", "src": src})
        if self.check:
            return True
        parent = os.path.dirname(path) or "/"
        tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.kit")
        os.symlink(src, tmp)
        try:
            os.replace(tmp, path)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        self.set_attrs(path, entry, True)
        return True

    def apply_absent(self, entry: dict[str, Any]) -> bool:
        path = entry["path"]
        kind = _kind(path)
        if kind == "absent":
            return False
        self.add_diff(entry, {"path": path, "state": kind}, {"path": path, "state": "absent"})
        if self.check:
            return True
        if kind == "directory":
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True


def normalise(raw: list[Any]) -> list[dict[str, Any]]:
    """Checks the entries; returns them with state, key, secret and parents filled in."""
    entries = []
    keys: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise EntryError(f"each entry must be a dict, got {type(item).__name__}")
        path = item.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise EntryError(f"entry path must be an absolute path, got {path!r}")
        unknown = set(item) - {"path", "content", "state", "src", "parents", "owner", "group", "mode",
                               "validate", "secret", "key"}
        if unknown:
            raise EntryError(f"{path}: unknown keys {sorted(unknown)}")
        state = item.get("state") or ("file" if "content" in item else None)
        if state not in STATES:
            raise EntryError(f"{path}: needs content or a state of {', '.join(STATES)}")
        if state == "file" and not isinstance(item.get("content"), str):
            raise EntryError(f"{path}: a file needs content (a string)")
        if state != "file" and "content" in item:
            raise EntryError(f"{path}: content and state {state} exclude each other")
        key = str(item.get("key") or path)
        if key in keys:
            raise EntryError(f"{path}: key {key} is used twice")
        keys.add(key)
        entries.append(dict(item, path=os.path.normpath(path), state=state, key=key,
                            secret=bool(item.get("secret")), parents=bool(item.get("parents"))))
    return entries


def main() -> None:
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "raw", "required": True}},
        supports_check_mode=True,
    )
    applier = Applier(module)
    try:
        entries = normalise(module.params["files"])
        for entry in entries:
            changed = applier.apply(entry)
            applier.results[entry["key"]] = {"changed": changed, "path": entry["path"], "state": entry["state"]}
    except Exception as e:  # atomic_move raises a bare Exception
        module.fail_json(msg=to_native(e), files=applier.results)
    result: dict[str, Any] = {
        "changed": any(r["changed"] for r in applier.results.values()),
        "files": applier.results,
    }
    if module._diff:
        result["diff"] = applier.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
