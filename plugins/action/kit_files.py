"""Action kit_files: render a role's templates on the controller, apply all entries in one remote run.

Templates are rendered the way ansible-core's ``template`` action does
(``ansible/plugins/action/template.py``): the source is looked up in the role's
``templates/`` directory first, marked trusted, rendered with the task's
variables plus ``ansible_managed`` and the other template variables, with the
same search path for includes and the same defaults (trim_blocks, ``\\n``).
An entry's ``vars`` are added for its own render only (a loop item).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

try:  # ansible-core >= 2.19
    from ansible._internal._templating import _template_vars
except ImportError:  # pragma: no cover - older cores are not supported
    _template_vars = None

MAX_CONTENT = 1024 * 1024
ENTRY_KEYS = {"path", "template", "vars", "content", "state", "src", "parents", "owner", "group", "mode",
              "validate", "secret", "key"}
MODULE = "hardened.sessions.kit_files"


def flatten(files: Any) -> list[Any]:
    """The entries, with one level of nested lists flattened."""
    if not isinstance(files, list):
        raise AnsibleActionFail("files must be a list of entries")
    out: list[Any] = []
    for item in files:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


def check_entry(entry: Any) -> None:
    """Fails on an entry the module cannot apply (before anything is rendered or sent)."""
    if not isinstance(entry, Mapping):
        raise AnsibleActionFail(f"each entry of files must be a dict, got {type(entry).__name__}")
    path = entry.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise AnsibleActionFail(f"entry path must be an absolute path, got {path!r}")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise AnsibleActionFail(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    given = [k for k in ("template", "content", "state") if entry.get(k) is not None]
    if len(given) != 1:
        raise AnsibleActionFail(f"{path}: needs exactly one of template, content or state (got {given or 'none'})")
    state = entry.get("state")
    if state is not None and state not in ("directory", "absent", "link"):
        raise AnsibleActionFail(f"{path}: state must be directory, absent or link, got {state!r}")
    if state == "link" and not entry.get("src"):
        raise AnsibleActionFail(f"{path}: state link needs src")
    if entry.get("vars") is not None and not isinstance(entry["vars"], Mapping):
        raise AnsibleActionFail(f"{path}: vars must be a dict")
    if entry.get("validate") is not None and "%s" not in str(entry["validate"]):
        raise AnsibleActionFail(f"{path}: validate must contain %s (the temporary file)")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def render(self, entry: Mapping[str, Any], task_vars: dict[str, Any]) -> str:
        """One template, rendered as ``ansible.builtin.template`` does."""
        name = entry["template"]
        try:
            source = self._find_needle("templates", name)
        except AnsibleError as e:
            raise AnsibleActionFail(to_text(e)) from e
        template_data = trust_as_template(self._loader.get_text_file_contents(source))

        searchpath = list(task_vars.get("ansible_search_path", []))
        searchpath.extend([self._loader._basedir, os.path.dirname(source)])
        searchpath = [q for p in searchpath for q in (os.path.join(p, "templates"), p)]

        temp_vars = task_vars.copy()
        temp_vars.update(entry.get("vars") or {})
        if _template_vars is not None:
            temp_vars.update(_template_vars.generate_ansible_template_vars(
                path=name,
                fullpath=source,
                dest_path=entry["path"],
                include_ansible_managed="ansible_managed" not in temp_vars,
            ))
        overrides = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=temp_vars)
        resultant = templar.template(template_data, escape_backslashes=False, overrides=overrides)
        return "" if resultant is None else to_text(resultant)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        if task_vars is None:
            task_vars = {}
        result = super().run(tmp, task_vars)
        del tmp

        unknown = set(self._task.args) - {"files"}
        if unknown:
            raise AnsibleActionFail(f"unsupported options: {', '.join(sorted(unknown))}")
        entries = flatten(self._task.args.get("files"))
        module_files = []
        for entry in entries:
            check_entry(entry)
            item = {k: v for k, v in entry.items() if k not in ("template", "vars") and v is not None}
            if entry.get("template") is not None:
                item["content"] = self.render(entry, task_vars)
            if "content" in item:
                item["content"] = to_text(item["content"])
                size = len(to_bytes(item["content"], errors="surrogate_or_strict"))
                if size > MAX_CONTENT:
                    raise AnsibleActionFail(f"{entry['path']}: content of {size} bytes is larger than 1 MiB "
                                            "(kit_files is for configuration files)")
            module_files.append(item)

        try:
            module_result = self._execute_module(module_name=MODULE, module_args={"files": module_files},
                                                 task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        # The arguments hold every file's content: never hand them back.
        module_result.pop("invocation", None)
        result.update(module_result)
        return result
