"""Collection installer: pins are honoured, mismatches refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import install_collections as ic
import pytest


def _wheel(path: Path, collections: dict[str, str], deps: dict[str, dict[str, str]] | None = None) -> Path:
    wheel = path / "ansible-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, version in collections.items():
            ns, coll = name.split(".")
            base = f"ansible_collections/{ns}/{coll}"
            info = {"version": version, "dependencies": (deps or {}).get(name, {})}
            zf.writestr(f"{base}/MANIFEST.json", json.dumps({"collection_info": info}))
            zf.writestr(f"{base}/plugins/modules/x.py", "# module\n")
    return wheel


def _requirements(path: Path, pins: dict[str, str]) -> Path:
    req = path / "requirements.yml"
    body = "collections:\n" + "".join(f"  - name: {n}\n    version: {v}\n" for n, v in pins.items())
    req.write_text(body)
    return req


def test_installs_pinned_collections(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel(cache, {"community.crypto": "3.0.5", "community.general": "11.4.2"})
    req = _requirements(tmp_path, {"community.crypto": "3.0.5"})
    dest = tmp_path / "collections"
    args = ["--source", "ansible==1.0.0", "--requirements", str(req), "--dest", str(dest), "--cache", str(cache)]
    assert ic.main(args) == 0
    assert (dest / "ansible_collections/community/crypto/plugins/modules/x.py").exists()
    assert not (dest / "ansible_collections/community/general").exists()
    # A second run is a no-op thanks to the stamp.
    assert ic.main(args) == 0


def test_refuses_a_version_mismatch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel(cache, {"community.crypto": "3.0.4"})
    req = _requirements(tmp_path, {"community.crypto": "3.0.5"})
    args = ["--source", "ansible==1.0.0", "--requirements", str(req), "--dest", str(tmp_path / "c"),
            "--cache", str(cache)]
    assert ic.main(args) == 1


def test_rejects_malformed_requirements(tmp_path: Path) -> None:
    req = tmp_path / "requirements.yml"
    req.write_text("collections:\n  - name: nodot\n")
    with pytest.raises(ValueError, match="name"):
        ic.read_requirements(req)


def _run(tmp_path: Path, carried: dict[str, str], deps: dict[str, dict[str, str]], pins: dict[str, str]) -> int:
    cache = tmp_path / "cache"
    cache.mkdir(parents=True)
    _wheel(cache, carried, deps)
    req = _requirements(tmp_path, pins)
    return ic.main(["--source", "ansible==1.0.0", "--requirements", str(req), "--dest", str(tmp_path / "c"),
                    "--cache", str(cache)])


def test_extracts_transitive_dependencies(tmp_path: Path) -> None:
    """community.docker needs community.library_inventory_filtering_v1, which requirements.yml does not pin:
    ansible-galaxy install --offline of a collection needing docker then fails (issue 25)."""
    carried = {"community.docker": "4.8.5", "community.library_inventory_filtering_v1": "1.1.5",
               "community.deep": "2.0.0", "community.general": "11.4.2"}
    deps = {"community.docker": {"community.library_inventory_filtering_v1": ">=1.0.0"},
            "community.library_inventory_filtering_v1": {"community.deep": ">=2.0.0,<3.0.0"}}
    assert _run(tmp_path, carried, deps, {"community.docker": "4.8.5"}) == 0
    found = sorted(p.parent.relative_to(tmp_path / "c").as_posix() for p in (tmp_path / "c").rglob("MANIFEST.json"))
    assert found == ["ansible_collections/community/deep", "ansible_collections/community/docker",
                     "ansible_collections/community/library_inventory_filtering_v1"]


def test_refuses_a_dependency_outside_its_range_or_absent(tmp_path: Path) -> None:
    assert _run(tmp_path / "a", {"community.docker": "4.8.5", "community.lib": "0.9.0"},
                {"community.docker": {"community.lib": ">=1.0.0"}}, {"community.docker": "4.8.5"}) == 1
    assert _run(tmp_path / "b", {"community.docker": "4.8.5"},
                {"community.docker": {"community.lib": "*"}}, {"community.docker": "4.8.5"}) == 1
    # A pinned dependency must satisfy the range too.
    assert _run(tmp_path / "c", {"community.docker": "4.8.5", "community.lib": "0.9.0"},
                {"community.docker": {"community.lib": ">=1.0.0"}},
                {"community.docker": "4.8.5", "community.lib": "0.9.0"}) == 1


@pytest.mark.parametrize(("version", "spec", "ok"), [
    ("1.2.3", "*", True), ("1.2.3", ">=1.0.0,<2.0.0", True), ("2.0.0", ">=1.0.0,<2.0.0", False),
    ("1.2.3", "1.2.3", True), ("1.2.3", "!=1.2.3", False), ("3.0.5", ">=3.0.5", True)])
def test_version_ranges(version: str, spec: str, ok: bool) -> None:
    assert ic.satisfies(version, spec) is ok
