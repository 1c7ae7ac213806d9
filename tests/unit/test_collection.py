"""The collection's metadata agrees with the pins, and its tarball carries what the roles need."""

from __future__ import annotations

import fnmatch
import re
import tarfile
from pathlib import Path

import collection_test as ct
import yaml
from role_filters import load

ROOT = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _satisfies(version: str, spec: str) -> bool:
    ops = {">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}
    for clause in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<|==)\s*([\d.]+)\s*", clause)
        assert match, f"unsupported range clause {clause!r}"
        if not ops[match[1]](_version(version), _version(match[2])):
            return False
    return True


def test_dependencies_are_ranges_around_the_pins() -> None:
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())
    pins = {c["name"]: str(c["version"]) for c in requirements["collections"]}
    deps = GALAXY["dependencies"]
    assert set(deps) <= set(pins)
    for name, spec in deps.items():
        assert "<" in spec and ">=" in spec, f"{name}: a range with an upper bound, got {spec}"
        assert _satisfies(pins[name], spec), f"{name} {pins[name]} outside {spec}"


def test_runtime_and_changelog_match() -> None:
    """requires_ansible is the tested range: the oldest core collection-test runs, up to the next minor
    after the pinned newest one."""
    core = re.search(r"^ansible-core==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert core
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    assert _satisfies(core[1], runtime["requires_ansible"])
    assert _satisfies(ct.OLDEST_CORE, runtime["requires_ansible"])
    oldest, newest = _version(ct.OLDEST_CORE)[:2], _version(core[1])[:2]
    assert runtime["requires_ansible"] == f">={oldest[0]}.{oldest[1]}.0,<{newest[0]}.{newest[1] + 1}.0"
    changelog = yaml.safe_load((ROOT / "changelogs/changelog.yaml").read_text())
    assert str(GALAXY["version"]) in changelog["releases"], "release the version with antsibull-changelog"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", GALAXY["namespace"]) and re.fullmatch(r"[a-z][a-z0-9_]*", GALAXY["name"])


def test_build_ignore_spares_every_required_file() -> None:
    """ansible-galaxy skips a path (and a directory's content) matching a pattern."""
    required = ct.required_files()
    assert {"plugins/filter/session_pki.py", "roles/session_verify/files/suite/conftest.py",
            "roles/session_verify/files/verify_report.py", "meta/runtime.yml", "LICENSE"} <= required
    for path in required:
        parents = [str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts) + 1)]
        hits = [(p, pattern) for p in parents for pattern in GALAXY["build_ignore"] if fnmatch.fnmatch(p, pattern)]
        assert not hits, f"{path} is excluded from the tarball by {hits}"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """The check `make collection-test` runs on the real tarball."""
    (tmp_path / "roles/r/tasks").mkdir(parents=True)
    (tmp_path / "roles/r/tasks/main.yml").write_text("---\n")
    tarball = tmp_path / "c.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "roles/r/tasks/main.yml", arcname="roles/r/tasks/main.yml")
    required = {"roles/r/tasks/main.yml", "roles/r/files/suite/conftest.py"}
    assert ct.missing_from(tarball, required) == ["roles/r/files/suite/conftest.py"]


def test_the_suite_path_stays_inside_the_role() -> None:
    """session_verify finds its suite and report generator in its own files/ (no ../)."""
    text = (ROOT / "roles/session_verify/defaults/main.yml").read_text() + (
        ROOT / "roles/session_verify/vars/main.yml").read_text()
    assert "../" not in text
    assert (ROOT / "tests/integration").resolve() == (ROOT / "roles/session_verify/files/suite").resolve()


def test_every_role_is_used_by_fqcn() -> None:
    """No playbook or scenario names a kit role without the collection's namespace."""
    names = "|".join(ct.roles())
    short = re.compile(rf"^\s*(?:-\s*role|name):\s*({names})\s*$", re.M)
    offenders = [str(p.relative_to(ROOT)) for top in ("playbooks", "molecule", "roles", "bench")
                 for p in (ROOT / top).rglob("*.yml") if "meta" not in p.parts and short.search(p.read_text())]
    assert not offenders


def test_every_filter_is_called_by_fqcn() -> None:
    """A collection's filters resolve by FQCN only: a short name fails at run time."""
    names = sorted(name for plugin in (ROOT / "plugins/filter").glob("*.py")
                   for name in load(plugin.stem).FilterModule().filters())
    assert "session_pki_san_list" in names
    short = re.compile(rf"(?:\|\s*|\(\s*')(?<![.\w])({'|'.join(names)})\b")
    offenders = [f"{p.relative_to(ROOT)}: {m}" for top in ("playbooks", "molecule", "roles", "bench")
                 for p in (ROOT / top).rglob("*") if p.suffix in {".yml", ".j2"}
                 for m in short.findall(p.read_text())]
    assert not offenders


def test_every_playbook_runs_by_fqcn() -> None:
    """``ansible-playbook hardened.sessions.<name>`` finds a playbook only when its name is an
    identifier: a hyphen would leave it reachable by path alone."""
    names = ct.playbooks()
    assert "migrate_sessions" in names
    assert [name for name in names if not name.isidentifier()] == []


def test_one_licence_and_namespace_everywhere() -> None:
    """Every role's meta says what galaxy.yml and LICENSE say (no second identity to pin or audit)."""
    assert GALAXY["license"] == ["Apache-2.0"]
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    floor = re.match(r">=(\d+\.\d+)", yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"])
    assert floor
    metas = sorted((ROOT / "roles").glob("*/meta/main.yml"))
    assert len(metas) > len(ct.roles()) > 5  # the checkout-only kit_testhost too
    for path in metas:
        info = yaml.safe_load(path.read_text())["galaxy_info"]
        where = path.relative_to(ROOT)
        assert info["namespace"] == GALAXY["namespace"], f"{where}: namespace {info['namespace']}"
        assert info["license"] == GALAXY["license"][0], f"{where}: license {info['license']}"
        assert info["role_name"] == path.parent.parent.name, where
        assert str(info["min_ansible_version"]) == floor[1], f"{where}: min_ansible_version is not {floor[1]}"
        assert info["author"] in GALAXY["authors"][0], where


def _shipped_files() -> list[Path]:
    return [p for top in ("roles", "playbooks", "plugins", "meta") for p in (ROOT / top).rglob("*")
            if p.is_file() and p.suffix in {".yml", ".yaml", ".j2", ".py"}
            and not ct.build_ignored(p.relative_to(ROOT))]


def test_dependencies_are_what_ships_uses() -> None:
    """galaxy.yml depends on exactly the collections the shipped content calls (comments aside):
    a user does not install community.docker for the lab."""
    fqcn = re.compile(r"\b((?:community|ansible)\.[a-z_0-9]+)\.[a-z_0-9]+")
    used = {m for p in _shipped_files() if p.suffix != ".py" for line in p.read_text().splitlines()
            if not line.lstrip().startswith("#") for m in fqcn.findall(line)} - {"ansible.builtin", "ansible.legacy"}
    assert used == set(GALAXY["dependencies"]), f"used {sorted(used)}, galaxy.yml {sorted(GALAXY['dependencies'])}"


def test_lab_content_stays_out_of_the_tarball() -> None:
    """The test-host role and the lab playbooks and inventory are build-ignored; nothing shipped names them."""
    for rel in ct.LAB_ONLY:
        assert (ROOT / rel).is_file() and ct.build_ignored(rel), rel
    assert "kit_testhost" not in ct.roles() and "lab" not in ct.playbooks()
    offenders = [str(p.relative_to(ROOT)) for p in _shipped_files()
                 if re.search(r"hardened\.sessions\.(?:kit_testhost|lab|lab_destroy|phalcon_build)\b", p.read_text())]
    assert not offenders
