"""Collection installer: pins are honoured, mismatches refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import install_collections as ic
import pytest


def _wheel(path: Path, collections: dict[str, str]) -> Path:
    wheel = path / "ansible-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, version in collections.items():
            ns, coll = name.split(".")
            base = f"ansible_collections/{ns}/{coll}"
            zf.writestr(f"{base}/MANIFEST.json", json.dumps({"collection_info": {"version": version}}))
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
