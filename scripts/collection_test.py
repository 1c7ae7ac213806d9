#!/usr/bin/env python3
"""Build the kit's collection tarball, install it into a scratch project and use it.

`make collection-test` (part of `make test`). In a scratch directory:

1. ``ansible-galaxy collection build`` of this checkout; every file the
   collection must carry (roles/, plugins/, playbooks/, meta/, the README,
   LICENSE and changelog) has to be in the tarball;
2. ``ansible-galaxy collection install`` of the tarball into the scratch
   project (``--no-deps``: the dependencies come from this checkout's pinned
   ./collections, the offline path; Galaxy is not asked);
3. from the scratch project only (own ansible.cfg: the installed collection
   first, then the pinned dependencies; no roles path, no checkout on it):
   ``ansible-doc -t role`` of every role, ``--syntax-check`` of a playbook
   that uses every role by FQCN and of every kit playbook of the installed
   collection (by FQCN, ``hardened.sessions.site``, where the name allows), ``pytest --collect-only`` of the suite
   shipped in session_verify, and ``hardened.sessions.validate`` against a
   scratch inventory (the staging example with stand-in secrets instead of
   its vault) reached over the local connection.

Exits non-zero on the first failure, naming the step.

``--install-only DIR``: the tarball of this checkout installed into the
collections directory DIR (``DIR/ansible_collections/hardened/sessions``),
replaced only when it differs from a fresh build (the redis molecule scenario
runs from it: its ``dependency`` step). ``--check-installed DIR
[--collections-path PATHS]``: exit non-zero, naming the difference, unless
hardened.sessions resolves to DIR only on that collections path (default:
ANSIBLE_COLLECTIONS_PATH) and DIR holds what a build of the checkout installs
(neither the checkout nor a stale copy is ever tested silently). A build takes
about a second.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What the installed collection must carry: every file below these.
SHIPPED_DIRS = ("roles", "plugins", "playbooks", "meta", "monitoring")
SHIPPED_FILES = ("README.md", "LICENSE", "CHANGELOG.md", "changelogs/changelog.yaml")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# The staging example has a host in each of these (and two app hosts).
STAGING_GROUPS = ("redis_session_stores", "postgresql_session_stores", "session_apps")
# Stand-ins for the staging example's vault (CHANGE-ME placeholders are refused).
STAND_INS = {
    "vault_session_pki_ca_passphrase": "stand-in-ca-passphrase-1234567890",
    **{f"vault_{name}_password": f"StandIn{name.title().replace('_', '')}Passw0rd1234"
       for name in ("redis_admin", "redis_shop", "redis_replication", "redis_sentinel", "redis_check",
                    "pg_ledger", "pg_replication", "pg_rewind", "patroni_api")},
}


def collection_name(root: Path = ROOT) -> str:
    """namespace.name from galaxy.yml."""
    meta = yaml.safe_load((root / "galaxy.yml").read_text())
    return f"{meta['namespace']}.{meta['name']}"


def required_files(root: Path = ROOT) -> set[str]:
    """Paths (relative to the root) the tarball must contain."""
    found = {name for name in SHIPPED_FILES if (root / name).is_file()}
    for top in SHIPPED_DIRS:
        for path in (root / top).rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and not SKIPPED_PARTS & set(rel.parts) and path.suffix != ".pyc":
                found.add(rel.as_posix())
    return found


def missing_from(tarball: Path, required: set[str]) -> list[str]:
    """The required files a collection tarball lacks."""
    with tarfile.open(tarball) as tar:
        members = {m.name.removeprefix("./") for m in tar.getmembers() if m.isfile() or m.issym()}
    return sorted(required - members)


def roles(root: Path = ROOT) -> list[str]:
    """Role names of the collection (every roles/<name>/meta/main.yml)."""
    return sorted(p.parent.parent.name for p in (root / "roles").glob("*/meta/main.yml"))


def playbooks(root: Path = ROOT) -> list[str]:
    """Playbook names of the collection (playbooks/<name>.yml)."""
    return sorted(p.stem for p in (root / "playbooks").glob("*.yml"))


def fqcn_play(fqcn: str, role_names: list[str]) -> list[dict[str, object]]:
    """A play that imports every role by FQCN (syntax check only)."""
    return [{"name": "Every role of the collection by FQCN", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": f"Import {role}", "ansible.builtin.import_role": {"name": f"{fqcn}.{role}"}}
                       for role in role_names]}]


def write_project(project: Path, fqcn: str, collections: Path | None = None) -> dict[str, str]:
    """Scratch project: ansible.cfg, a playbook, the inventory. Returns the environment to run in.

    ``collections``: where the kit is installed (default: the project's own collections/)."""
    (project / "ansible.cfg").write_text(
        "[defaults]\n"
        f"collections_path = {collections or project / 'collections'}:{ROOT / 'collections'}\n"
        "collections_scan_sys_path = false\n"
        "roles_path = /nonexistent\n"
        "retry_files_enabled = false\n"
        "interpreter_python = auto_silent\n"
        "forks = 10\n"
    )
    (project / "every-role.yml").write_text(yaml.safe_dump(fqcn_play(fqcn, roles()), sort_keys=False))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({"ANSIBLE_CONFIG": str(project / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_HOME": str(project / ".ansible"), "PATH": f"{BIN}:{env.get('PATH', '')}"})
    return env


def write_inventory(project: Path, installed: Path) -> Path:
    """The staging example of the installed collection, its vault replaced by stand-ins."""
    inventory = project / "inventory"
    subprocess.run(["cp", "-r", str(installed / "inventories" / "staging"), str(inventory)], check=True)
    (inventory / "vault-pass.example.txt").unlink(missing_ok=True)
    (inventory / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(STAND_INS))
    local = project / "local.json"
    local.write_text(json.dumps({
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        # Validation asks PostgreSQL members whether they are primary (become):
        # no sudo here; the stand-in runs the command as the current user.
        "ansible_become_exe": str(ROOT / "tests" / "unit" / "validation" / "no-sudo"),
    }))
    return inventory


class Steps:
    """Runs and times the steps; the first failure ends the run."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def run(self, what: str, *argv: str, extra_env: dict[str, str] | None = None) -> str:
        start = time.monotonic()
        result = subprocess.run(list(argv), capture_output=True, text=True, cwd=self.cwd,
                                env={**self.env, **(extra_env or {})}, timeout=600, check=False)
        if result.returncode != 0:
            print(result.stdout[-6000:] + result.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"collection-test: {what} failed (exit {result.returncode})")
        print(f">> {what}: ok ({time.monotonic() - start:.1f} s)")
        return result.stdout


def build(steps: Steps, dist: Path) -> Path:
    """``ansible-galaxy collection build`` of this checkout into ``dist``: the tarball."""
    steps.run("build", str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(dist))
    return next(dist.glob("*.tar.gz"))


def installed_path(collections: Path, fqcn: str) -> Path:
    """Where ``ansible-galaxy collection install -p COLLECTIONS`` puts the collection."""
    return collections / "ansible_collections" / fqcn.replace(".", "/")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stale_reasons(installed: Path, tarball: Path) -> list[str]:
    """Why ``installed`` is not what installing ``tarball`` gives ([] when it is).

    MANIFEST.json (deterministic: the metadata and the checksum of FILES.json,
    which lists every file with its checksum) must be the tarball's, and every
    listed file must still carry its checksum (no edit in the installed copy)."""
    if not (installed / "MANIFEST.json").is_file():
        return [f"{installed} holds no installed collection (no MANIFEST.json)"]
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("MANIFEST.json")
        built = member.read() if member else b""
    if (installed / "MANIFEST.json").read_bytes() != built:
        return [f"{installed} was installed from another tree: its MANIFEST.json differs from a build of {ROOT}"]
    manifest = json.loads(built)["file_manifest_file"]
    files = installed / manifest["name"]
    if not files.is_file() or _sha256(files) != manifest["chksum_sha256"]:
        return [f"{files}: missing or edited"]
    entries = json.loads(files.read_text())["files"]
    return [f"{installed / e['name']}: missing or edited" for e in entries if e["ftype"] == "file"
            and (not (installed / e["name"]).is_file() or _sha256(installed / e["name"]) != e["chksum_sha256"])]


def install_only(collections: Path, fqcn: str, steps: Steps, scratch: Path) -> None:
    """The checkout's tarball installed in ``collections``, replaced only when stale."""
    tarball = build(steps, scratch / "dist")
    installed = installed_path(collections, fqcn)
    reasons = stale_reasons(installed, tarball)
    if not reasons:
        print(f">> {installed}: up to date with {tarball.name} of {ROOT}")
        return
    print(f">> (re)installing: {reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""))
    # Nothing else lives there: an interrupted install leaves a copy the next check calls stale.
    subprocess.run(["rm", "-rf", str(collections)], check=True)
    steps.run(f"install into {collections}", str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps",
              "--offline", "-p", str(collections), str(tarball))
    left = stale_reasons(installed, tarball)
    if left:
        raise SystemExit(f"collection-test: the fresh install differs from the tarball: {left[:5]}")


def check_installed(collections: Path, fqcn: str, steps: Steps, scratch: Path, search_path: str) -> None:
    """Fail, naming the difference, unless ``fqcn`` resolves on ``search_path`` (a collections
    path, ``:``-separated) to ``collections`` only, and that copy is what a build of the checkout installs."""
    listed = steps.run(f"the copies of {fqcn} on {search_path}", str(BIN / "ansible-galaxy"), "collection", "list",
                       fqcn, "--format=json", extra_env={"ANSIBLE_COLLECTIONS_PATH": search_path})
    copies = [str(Path(path).resolve()) for path in json.loads(listed or "{}")]
    if copies != [str(collections / "ansible_collections")]:
        raise SystemExit(f"collection-test: {fqcn} must resolve to the installed copy in {collections} only,"
                         f" found {copies or 'none'} on the collections path {search_path}")
    tarball = build(steps, scratch / "dist")
    reasons = stale_reasons(installed_path(collections, fqcn), tarball)
    if reasons:
        raise SystemExit(f"collection-test: the installed {fqcn} is stale: {'; '.join(reasons[:5])} - reinstall it:"
                         f" scripts/collection_test.py --install-only {collections}"
                         " (the redis scenario's dependency step, run by molecule test/converge)")
    print(f">> {fqcn}: only {installed_path(collections, fqcn)}, the tarball of {ROOT} as built now")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (printed)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--install-only", type=Path, metavar="DIR",
                      help="install the tarball into the collections directory DIR (when stale) and stop")
    mode.add_argument("--check-installed", type=Path, metavar="DIR",
                      help="fail unless the collection resolves to DIR only (on --collections-path) and DIR holds"
                           " it as a build of this checkout installs it")
    parser.add_argument("--collections-path", metavar="PATHS",
                        help="with --check-installed: the caller's collections path"
                             " (default: ANSIBLE_COLLECTIONS_PATH)")
    args = parser.parse_args(argv)

    fqcn = collection_name()
    scratch = Path(tempfile.mkdtemp(prefix="kit-collection-"))
    try:
        project = scratch / "project"
        project.mkdir()
        target = args.install_only or args.check_installed
        env = write_project(project, fqcn, target and target.resolve())
        steps = Steps(env, project)
        if args.install_only:
            install_only(args.install_only.resolve(), fqcn, steps, scratch)
            return 0
        if args.check_installed:
            search_path = args.collections_path or os.environ.get("ANSIBLE_COLLECTIONS_PATH")
            if not search_path:
                parser.error("--check-installed needs --collections-path or ANSIBLE_COLLECTIONS_PATH")
            check_installed(args.check_installed.resolve(), fqcn, steps, scratch, search_path)
            return 0
        tarball = build(steps, scratch / "dist")
        missing = missing_from(tarball, required_files())
        if missing:
            raise SystemExit(f"collection-test: the tarball lacks {len(missing)} file(s): {missing[:20]}")
        print(f">> {tarball.name}: {len(required_files())} required files present")
        steps.run("install", str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--offline",
                  "-p", str(project / "collections"), str(tarball))
        installed = project / "collections" / "ansible_collections" / fqcn.replace(".", "/")
        steps.run("ansible-doc of every role", str(BIN / "ansible-doc"), "-t", "role",
                  *(f"{fqcn}.{role}" for role in roles()))
        inventory = write_inventory(project, installed)
        # Every playbook by FQCN (their names are identifiers: a hyphen
        # would make one reachable by path only).
        steps.run("syntax check: every role by FQCN, every playbook of the installed collection by FQCN",
                  str(BIN / "ansible-playbook"), "-i", str(inventory), "--syntax-check", "every-role.yml",
                  *(f"{fqcn}.{name}" for name in playbooks()))
        collected = steps.run("the shipped suite collects", sys.executable, "-m", "pytest", "--collect-only", "-q",
                  "-p", "no:cacheprovider", str(installed / "roles/session_verify/files/suite"),
                  extra_env={"KIT_VERIFY_CONTEXT": str(write_context(project)),
                             "PYTHONDONTWRITEBYTECODE": "1"})
        if not re.search(r"^[1-9]\d* tests collected", collected, re.M):
            raise SystemExit(f"collection-test: the shipped suite collected no test: {collected[-500:]}")
        validated = steps.run(f"{fqcn}.validate on the scratch inventory (local connection)",
                  str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{project / 'local.json'}",
                  f"{fqcn}.validate")
        recap = re.findall(r"^(\S+)\s+: ok=(\d+) .*unreachable=(\d+) +failed=(\d+)", validated, re.M)
        if len(recap) < len(STAGING_GROUPS) or any(ok == "0" or bad != ["0", "0"] for _, ok, *bad in recap):
            raise SystemExit(f"collection-test: validate did not pass on every host: {recap}")
    finally:
        if args.keep:
            print(f">> kept {scratch}")
        else:
            subprocess.run(["rm", "-rf", str(scratch)], check=False)
    return 0


def write_context(project: Path) -> Path:
    """An empty verification context: collecting the suite needs one."""
    path = project / "context.json"
    path.write_text(json.dumps({"inventory": [], "redis": [], "postgresql": [], "apps": [], "client_cert": {}}))
    return path


if __name__ == "__main__":
    sys.exit(main())
