#!/usr/bin/env python3
"""Build the kit's collection tarball, install it into scratch projects and use it.

`make collection-test` (part of `make test`). In a scratch directory:

1. ``ansible-galaxy collection build`` of this checkout; every file the
   collection must carry (roles/, plugins/, playbooks/, meta/, the README,
   LICENSE and changelog, less galaxy.yml's build_ignore) has to be in the
   tarball, and no lab content (LAB_ONLY);
2. on the pinned ansible-core, then on the oldest supported one (OLDEST_CORE,
   a cached .venv-oldest holding it and meta/ee-requirements.txt), from a
   scratch project only (own ansible.cfg: the installed collection first, then
   the pinned dependencies; no roles path, no checkout on it):
   ``ansible-galaxy collection install --no-deps --offline`` of the tarball,
   ``ansible-doc`` of every role and every filter, ``--syntax-check`` of a
   playbook that uses every role by FQCN and of every playbook of the
   installed collection by FQCN, ``pytest --collect-only`` of the suite
   shipped in session_verify, and ``hardened.sessions.validate`` against both
   example inventories (stand-in secrets instead of their vaults) reached over
   the local connection; on the oldest core the render test too;
3. the tarball installed WITH its dependencies, offline, from a copy
   install_collections.py makes of galaxy.yml's dependencies (transitively);
4. ``ansible-builder introspect`` of the installed collection (its
   meta/execution-environment.yml) and ``ansible-builder create`` of
   docs/execution-environment.yml;
5. ``ansible-galaxy collection install git+file://CLONE,v<version>`` from a
   clone of this repository (the tag made in the clone if absent).

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
import fnmatch
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
# The oldest ansible-core the collection supports (meta/runtime.yml): collection-test
# runs the installed tarball on it too (a scratch virtualenv, cached).
OLDEST_CORE = "2.17.14"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# The example inventories validate runs on (both ship with the collection).
EXAMPLES = ("staging", "production")
# Each example has a host in each of these (and two app hosts).
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


def build_ignored(rel: str | Path, root: Path = ROOT) -> bool:
    """Whether galaxy.yml's build_ignore keeps ``rel`` (or a directory above it) out of the tarball."""
    patterns = yaml.safe_load((root / "galaxy.yml").read_text())["build_ignore"]
    parts = Path(rel).parts
    return any(fnmatch.fnmatch(Path(*parts[:i]).as_posix(), pattern)
               for i in range(1, len(parts) + 1) for pattern in patterns)


# Lab and test-host content: in the checkout, never in the tarball.
LAB_ONLY = ("roles/kit_testhost/tasks/main.yml", "playbooks/lab.yml", "playbooks/lab_destroy.yml",
            "playbooks/phalcon_build.yml", "inventories/lab/hosts.yml")


def required_files(root: Path = ROOT) -> set[str]:
    """Paths (relative to the root) the tarball must contain."""
    found = {name for name in SHIPPED_FILES if (root / name).is_file()}
    for top in SHIPPED_DIRS:
        for path in (root / top).rglob("*"):
            rel = path.relative_to(root)
            if (path.is_file() and not SKIPPED_PARTS & set(rel.parts) and path.suffix != ".pyc"
                    and not build_ignored(rel, root)):
                found.add(rel.as_posix())
    return found


def members(tarball: Path) -> set[str]:
    """The files of a collection tarball."""
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./") for m in tar.getmembers() if m.isfile() or m.issym()}


def missing_from(tarball: Path, required: set[str]) -> list[str]:
    """The required files a collection tarball lacks."""
    return sorted(required - members(tarball))


def roles(root: Path = ROOT) -> list[str]:
    """Role names of the shipped collection (every roles/<name>/meta/main.yml not build-ignored)."""
    return sorted(p.parent.parent.name for p in (root / "roles").glob("*/meta/main.yml")
                  if not build_ignored(p.relative_to(root), root))


def playbooks(root: Path = ROOT) -> list[str]:
    """Playbook names of the shipped collection (playbooks/<name>.yml not build-ignored)."""
    return sorted(p.stem for p in (root / "playbooks").glob("*.yml") if not build_ignored(p.relative_to(root), root))


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


def write_inventory(project: Path, installed: Path, example: str = "staging") -> Path:
    """An example inventory of the installed collection, its vault replaced by stand-ins."""
    inventory = project / f"inventory-{example}"
    subprocess.run(["cp", "-r", str(installed / "inventories" / example), str(inventory)], check=True)
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

    def __init__(self, env: dict[str, str], cwd: Path, label: str = "") -> None:
        self.env, self.cwd, self.label = env, cwd, label

    def run(self, what: str, *argv: str, extra_env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        what = f"[{self.label}] {what}" if self.label else what
        start = time.monotonic()
        result = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd or self.cwd,
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
    parser.add_argument("--newest-only", action="store_true",
                        help=f"skip the run on the oldest supported ansible-core ({OLDEST_CORE})")
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
        shipped_lab = sorted(set(LAB_ONLY) & members(tarball))
        if shipped_lab:
            raise SystemExit(f"collection-test: lab-only content in the tarball: {shipped_lab}")
        print(f">> {tarball.name}: {len(required_files())} required files present, no lab content")
        installed = exercise(steps, project, tarball, fqcn, BIN, sys.executable)
        offline_with_dependencies(steps, tarball, scratch)
        execution_environment(steps, installed, tarball, scratch)
        git_tag_pin(steps, scratch, fqcn)
        if not args.newest_only:
            oldest = oldest_core_venv(steps)
            old_project = scratch / "project-oldest"
            old_project.mkdir()
            old_env = write_project(old_project, fqcn)
            old_env["PATH"] = f"{oldest / 'bin'}:{old_env['PATH']}"
            old_steps = Steps(old_env, old_project, label=f"ansible-core {OLDEST_CORE}")
            exercise(old_steps, old_project, tarball, fqcn, oldest / "bin", str(oldest / "bin" / "python"))
            # The render test (every template of every role, both examples) on the oldest core.
            old_steps.run("the render test", str(oldest / "bin" / "python"), "-m", "pytest", "-q", "-p",
                          "no:cacheprovider", "-o", "addopts=", str(ROOT / "tests/unit/test_render.py"),
                          extra_env={"PYTHONDONTWRITEBYTECODE": "1"}, cwd=ROOT)
    finally:
        if args.keep:
            print(f">> kept {scratch}")
        else:
            subprocess.run(["rm", "-rf", str(scratch)], check=False)
    return 0


def exercise(steps: Steps, project: Path, tarball: Path, fqcn: str, bin_dir: Path, python: str) -> Path:
    """What a user's project does with the tarball, on the ansible-core of ``bin_dir``: install it, read
    the roles' docs, syntax-check every role and playbook by FQCN, collect the suite (with ``python``:
    the packages of meta/ee-requirements.txt) and validate both example inventories. The installed copy."""
    steps.run("install", str(bin_dir / "ansible-galaxy"), "collection", "install", "--no-deps", "--offline",
              "-p", str(project / "collections"), str(tarball))
    installed = installed_path(project / "collections", fqcn)
    steps.run("ansible-doc of every role", str(bin_dir / "ansible-doc"), "-t", "role",
              *(f"{fqcn}.{role}" for role in roles()))
    listed = json.loads(steps.run("ansible-doc lists the filters", str(bin_dir / "ansible-doc"), "-t", "filter",
                                  "-l", fqcn, "--json"))
    docs = json.loads(steps.run("ansible-doc of every filter", str(bin_dir / "ansible-doc"), "-t", "filter",
                                "--json", *sorted(listed)))
    undocumented = sorted(set(listed) - {name for name, doc in docs.items() if (doc or {}).get("doc")})
    if len(listed) < 40 or undocumented:
        raise SystemExit(f"collection-test: {len(listed)} filters listed, undocumented: {undocumented}")
    inventories = {example: write_inventory(project, installed, example) for example in EXAMPLES}
    # Every playbook by FQCN (their names are identifiers: a hyphen
    # would make one reachable by path only).
    steps.run("syntax check: every role by FQCN, every playbook of the installed collection by FQCN",
              str(bin_dir / "ansible-playbook"), "-i", str(inventories["staging"]), "--syntax-check",
              "every-role.yml", *(f"{fqcn}.{name}" for name in playbooks()))
    collected = steps.run("the shipped suite collects", python, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", str(installed / "roles/session_verify/files/suite"),
                          extra_env={"KIT_VERIFY_CONTEXT": str(write_context(project)),
                                     "PYTHONDONTWRITEBYTECODE": "1"})
    if not re.search(r"^[1-9]\d* tests collected", collected, re.M):
        raise SystemExit(f"collection-test: the shipped suite collected no test: {collected[-500:]}")
    for example, inventory in inventories.items():
        validated = steps.run(f"{fqcn}.validate on the {example} example (local connection)",
                              str(bin_dir / "ansible-playbook"), "-i", str(inventory),
                              "-e", f"@{project / 'local.json'}", f"{fqcn}.validate")
        recap = re.findall(r"^(\S+)\s+: ok=(\d+) .*unreachable=(\d+) +failed=(\d+)", validated, re.M)
        if len(recap) < len(STAGING_GROUPS) or any(ok == "0" or bad != ["0", "0"] for _, ok, *bad in recap):
            raise SystemExit(f"collection-test: validate did not pass on every {example} host: {recap}")
    return installed


def offline_with_dependencies(steps: Steps, tarball: Path, scratch: Path) -> None:
    """The tarball installed WITH its dependencies and without Galaxy: an offline copy made by
    install_collections.py of exactly galaxy.yml's dependencies (the pins of requirements.yml) and theirs."""
    deps = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    pins = [c for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"] if c["name"] in deps]
    if sorted(c["name"] for c in pins) != sorted(deps):
        raise SystemExit(f"collection-test: requirements.yml pins not every dependency of galaxy.yml: {sorted(deps)}")
    requirements = scratch / "offline-requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": pins}))
    offline, target = scratch / "offline", scratch / "with-deps"
    steps.run("offline copy of the dependencies (install_collections.py)", sys.executable,
              str(ROOT / "scripts/install_collections.py"), "--requirements", str(requirements), "--dest", str(offline))
    path = {"ANSIBLE_COLLECTIONS_PATH": f"{target}:{offline}"}
    steps.run("install with dependencies, offline", str(BIN / "ansible-galaxy"), "collection", "install",
              "--offline", "-p", str(target), str(tarball), extra_env=path)
    listed = json.loads(steps.run("the dependencies resolve", str(BIN / "ansible-galaxy"), "collection", "list",
                                  "--format=json", extra_env=path) or "{}")
    found = {name for copies in listed.values() for name in copies}
    if not set(deps) | {collection_name()} <= found:
        raise SystemExit(f"collection-test: after the offline install {sorted(found)} lacks some of {sorted(deps)}")


def execution_environment(steps: Steps, installed: Path, tarball: Path, scratch: Path) -> None:
    """ansible-builder finds the collection's Python and system needs (meta/execution-environment.yml) and
    makes a build context of docs/execution-environment.yml (building the image needs a registry)."""
    builder = BIN / "ansible-builder"
    if not builder.is_file():
        raise SystemExit(f"collection-test: {builder} missing (requirements.txt pins ansible-builder: make venv)")
    found = steps.run("ansible-builder introspect of the installed collection", str(builder), "introspect",
                      "--sanitize", str(installed.parents[2]))
    definition = yaml.safe_load((ROOT / "docs/execution-environment.yml").read_text())
    own = " ".join(definition["dependencies"].get("python") or [])
    needed = [re.split(r"[\[=<>~ ]", line)[0] for line in (ROOT / "meta/ee-requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    lost = [name for name in needed if f"'{name}" not in found and name not in own]
    if lost or "openssl" not in found:
        raise SystemExit(f"collection-test: an EE would lack {lost or 'openssl'}: {found[-800:]}")
    ee = scratch / "ee"
    ee.mkdir()
    (ee / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    (ee / "requirements.yml").write_text(yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
    steps.run("ansible-builder create of docs/execution-environment.yml", str(builder), "create",
              "-f", "execution-environment.yml", "-c", "context", cwd=ee)
    recipe = [p for name in ("Containerfile", "Dockerfile") if (p := ee / "context" / name).is_file()]
    python = ee / "context/_build/requirements.txt"
    if not recipe or not (ee / "context/_build/requirements.yml").is_file() or "pytest" not in python.read_text():
        raise SystemExit(f"collection-test: ansible-builder create made no build context in {ee / 'context'}")


def git_tag_pin(steps: Steps, scratch: Path, fqcn: str) -> None:
    """``ansible-galaxy collection install git+<repository>,v<version>`` from a clone of this repository
    (its committed HEAD; tagged in the clone when the release tag is not there yet)."""
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    version = str(yaml.safe_load((clone / "galaxy.yml").read_text())["version"])
    tag = f"v{version}"
    if subprocess.run(["git", "-C", str(clone), "rev-parse", "-q", "--verify", f"refs/tags/{tag}"],
                      capture_output=True, check=False).returncode != 0:
        subprocess.run(["git", "-C", str(clone), "-c", "user.name=collection-test", "-c", "user.email=ct@localhost",
                        "tag", "-a", tag, "-m", f"scratch {tag}"], check=True)
    target = scratch / "from-git"
    steps.run(f"install git+file://{clone},{tag}", str(BIN / "ansible-galaxy"), "collection", "install",
              "--no-deps", "-p", str(target), f"git+file://{clone},{tag}")
    manifest = json.loads((installed_path(target, fqcn) / "MANIFEST.json").read_text())["collection_info"]
    lab = [rel for rel in LAB_ONLY if (installed_path(target, fqcn) / rel).exists()]
    if manifest["version"] != version or lab:
        raise SystemExit(f"collection-test: the {tag} install is {manifest['version']}, lab content {lab}")


def oldest_core_venv(steps: Steps) -> Path:
    """.venv-oldest: ansible-core OLDEST_CORE and meta/ee-requirements.txt (what a user's control node
    needs), made once and remade when either changes."""
    venv = ROOT / ".venv-oldest"
    wanted = f"ansible-core=={OLDEST_CORE}\n{(ROOT / 'meta/ee-requirements.txt').read_text()}"
    stamp = venv / ".stamp"
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps.run(f"virtualenv with ansible-core {OLDEST_CORE}", base, "-m", "venv", str(venv))
    steps.run(f"pip install ansible-core=={OLDEST_CORE} -r meta/ee-requirements.txt", str(venv / "bin/pip"),
              "install", "--quiet", f"ansible-core=={OLDEST_CORE}", "-r", str(ROOT / "meta/ee-requirements.txt"))
    stamp.write_text(wanted)
    return venv


def write_context(project: Path) -> Path:
    """An empty verification context: collecting the suite needs one."""
    path = project / "context.json"
    path.write_text(json.dumps({"inventory": [], "redis": [], "postgresql": [], "apps": [], "client_cert": {}}))
    return path


if __name__ == "__main__":
    sys.exit(main())
