"""The redis molecule scenario runs the collection installed from its tarball, never a stale copy.

``collection_test.py --install-only DIR`` installs the checkout's tarball into
DIR (replacing it only when it differs from a fresh build) and
``--check-installed DIR`` fails when DIR holds anything else; the scenario's
configuration wires both in and keeps the checkout off its collections path.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import tarfile
from pathlib import Path

import collection_test as ct
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "molecule/redis"
INSTALL_DIR = "${MOLECULE_PROJECT_DIRECTORY}/.molecule-collection"


def _tarball(path: Path, manifest: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


def _installed(path: Path, manifest: dict[str, object]) -> Path:
    path.mkdir(parents=True)
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    return path


def test_no_copy_is_stale(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "c.tar.gz", b"{}")
    assert ct.stale_reasons(tmp_path / "none", tarball) == [f"{tmp_path / 'none'} holds no installed collection"
                                                            " (no MANIFEST.json)"]


def test_a_copy_of_another_tree_is_stale(tmp_path: Path) -> None:
    installed = _installed(tmp_path / "c", {"collection_info": {"version": "0.9.0"}})
    [reason] = ct.stale_reasons(installed, _tarball(tmp_path / "c.tar.gz", b'{"collection_info": {}}'))
    assert "installed from another tree" in reason


def test_the_installed_copy_is_replaced_only_when_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Real build and install of this checkout; an edit in the copy makes it stale, the next install repairs it;
    the checkout on the collections path fails the check."""
    target = tmp_path / "collections"
    installed = ct.installed_path(target, ct.collection_name())
    assert ct.main(["--install-only", str(target)]) == 0
    assert "(re)installing" in capsys.readouterr().out
    assert (installed / "roles/redis_session_store/tasks/main.yml").read_bytes() == (
        ROOT / "roles/redis_session_store/tasks/main.yml").read_bytes()
    assert not (installed / "molecule").exists() and not (installed / ".molecule-collection").exists()
    stamp = (installed / "MANIFEST.json").stat().st_mtime_ns
    assert ct.main(["--install-only", str(target)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (installed / "MANIFEST.json").stat().st_mtime_ns == stamp
    check = ["--check-installed", str(target), "--collections-path", f"{target}:{ROOT / 'collections'}"]
    assert ct.main(check) == 0

    edited = installed / "roles/redis_session_store/defaults/main.yml"
    edited.write_text(edited.read_text() + "# edited in the installed copy\n")
    with pytest.raises(SystemExit, match=re.escape(f"{edited}: missing or edited")):
        ct.main(check)
    assert ct.main(["--install-only", str(target)]) == 0
    assert "(re)installing" in capsys.readouterr().out
    assert ct.main(check) == 0

    # The checkout (what the other scenarios run) on the path: the check names it.
    checkout = ROOT / ".collection"
    for path in (f"{target}:{checkout}", f"{checkout}:{ROOT / 'collections'}"):
        with pytest.raises(SystemExit, match=re.escape(str(checkout / "ansible_collections"))):
            ct.main([*check[:2], "--collections-path", path])
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", f"{target}:{checkout}")
    with pytest.raises(SystemExit, match="must resolve to the installed copy"):
        ct.main(check[:2])


def test_the_tarball_never_carries_the_installed_copy_or_the_logs() -> None:
    patterns = yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"]
    for path in (".molecule-collection", ".molecule-logs"):
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path


def test_the_redis_scenario_runs_the_fresh_installed_copy_only() -> None:
    config = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    env = config["provisioner"]["env"]
    assert env["KIT_INSTALLED_COLLECTIONS"] == INSTALL_DIR
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(":") == [INSTALL_DIR, "${MOLECULE_PROJECT_DIRECTORY}/collections"]
    dependency = config["dependency"]
    assert dependency["name"] == "shell" and dependency["enabled"] is True
    assert re.fullmatch(r'"\$\{MOLECULE_PROJECT_DIRECTORY\}/\.venv/bin/python" '
                        r'"\$\{MOLECULE_PROJECT_DIRECTORY\}/scripts/collection_test\.py" '
                        rf'--install-only "{re.escape(INSTALL_DIR)}"', dependency["command"])
    # installed before anything runs
    assert config["scenario"]["test_sequence"][0] == "dependency"
    playbooks = config["provisioner"]["playbooks"]
    for step, fqcn in (("converge", "hardened.sessions.redis"), ("verify", "hardened.sessions.verify")):
        plays = yaml.safe_load((SCENARIO / playbooks[step]).read_text())
        imported = [play["ansible.builtin.import_playbook"] for play in plays]
        assert imported == ["../shared/installed-collection.yml", fqcn], step
    side_effect = yaml.safe_load((SCENARIO / playbooks["side_effect"]).read_text())
    assert side_effect[0]["vars"]["kit_check_playbook"] == playbooks["converge"]
