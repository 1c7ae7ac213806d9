"""The kit_files module on a temporary directory, as the current user.

The module runs as a script with its arguments in a file (the way Ansible runs
a module without a wrapper), so these tests need no host and no container.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "kit_files.py"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(tmp_path: Path, files: list[dict[str, Any]], check: bool = False, diff: bool = True) -> dict[str, Any]:
    args = tmp_path.parent / f"{tmp_path.name}-args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "files": files, "_ansible_check_mode": check, "_ansible_diff": diff}}))
    out = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True,
                         timeout=60, check=False)
    return json.loads(out.stdout)


def conf(tmp_path: Path, content: str = "a = 1\n", **extra: Any) -> dict[str, Any]:
    return {"path": str(tmp_path / "app.conf"), "content": content, "owner": OWNER, "group": GROUP,
            "mode": "0640", "key": "conf", **extra}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_create_then_unchanged(tmp_path: Path) -> None:
    first = run(tmp_path, [conf(tmp_path)])
    assert first["changed"] and first["files"]["conf"]["changed"], first
    assert (tmp_path / "app.conf").read_text() == "a = 1\n"
    assert mode(tmp_path / "app.conf") == 0o640
    second = run(tmp_path, [conf(tmp_path)])
    assert second["changed"] is False and second["files"]["conf"] == {
        "changed": False, "path": str(tmp_path / "app.conf"), "state": "file"}
    assert second["diff"] == []


def test_mode_drift_is_corrected_without_rewriting(tmp_path: Path) -> None:
    run(tmp_path, [conf(tmp_path)])
    target = tmp_path / "app.conf"
    inode = target.stat().st_ino
    target.chmod(0o666)
    result = run(tmp_path, [conf(tmp_path)])
    assert result["files"]["conf"]["changed"]
    assert mode(target) == 0o640 and target.stat().st_ino == inode
    assert result["diff"] == [{"before_header": str(target), "after_header": str(target),
                               "before": {"mode": "0666"}, "after": {"mode": "0640"}}]


def test_content_drift_is_rewritten_atomically(tmp_path: Path) -> None:
    run(tmp_path, [conf(tmp_path)])
    target = tmp_path / "app.conf"
    inode = target.stat().st_ino
    target.write_text("tampered\n")
    result = run(tmp_path, [conf(tmp_path)])
    assert result["changed"]
    assert target.read_text() == "a = 1\n" and mode(target) == 0o640
    assert target.stat().st_ino != inode, "written in place instead of renamed over"
    assert result["diff"][0]["before"] == "tampered\n" and result["diff"][0]["after"] == "a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.conf"], "temporary file left behind"


def test_validate_refusing_leaves_the_file_untouched(tmp_path: Path) -> None:
    run(tmp_path, [conf(tmp_path)])
    seen = tmp_path.parent / f"{tmp_path.name}-validated"
    result = run(tmp_path, [conf(tmp_path, "broken\n", validate=f"sh -c 'cp %s {seen}; exit 3'")])
    assert result.get("failed") and "validate failed" in result["msg"], result
    assert seen.read_text() == "broken\n", "validate did not see the new content"
    assert (tmp_path / "app.conf").read_text() == "a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.conf"]
    good = run(tmp_path, [conf(tmp_path, "b = 2\n", validate="grep -q 'b = 2' %s")])
    assert good["changed"] and (tmp_path / "app.conf").read_text() == "b = 2\n"


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [{"path": str(tmp_path / "d"), "state": "directory", "mode": "0750"},
               {"path": str(tmp_path / "d" / "f"), "content": "x\n", "mode": "0600"},
               {"path": str(tmp_path / "gone"), "state": "absent"}]
    (tmp_path / "gone").write_text("old\n")
    result = run(tmp_path, entries, check=True)
    assert result["changed"]
    assert [r["changed"] for r in result["files"].values()] == [True, True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone"]
    run(tmp_path, entries)
    (tmp_path / "d" / "f").chmod(0o644)
    drift = run(tmp_path, entries, check=True)
    assert drift["files"][str(tmp_path / "d" / "f")]["changed"] and mode(tmp_path / "d" / "f") == 0o644


def test_directory_link_and_absent(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
               {"path": str(tmp_path / "a" / "b"), "state": "directory", "mode": "0750", "parents": True},
               {"path": str(tmp_path / "a" / "b" / "c"), "state": "directory", "mode": "0700"},
               {"path": str(tmp_path / "link"), "state": "link", "src": "a/b"},
               {"path": str(tmp_path / "old"), "state": "absent"},
               {"path": str(tmp_path / "olddir"), "state": "absent"}]
    (tmp_path / "old").write_text("x")
    (tmp_path / "olddir" / "sub").mkdir(parents=True)
    result = run(tmp_path, entries)
    assert all(r["changed"] for r in result["files"].values()), result
    assert mode(tmp_path / "a") == 0o750 and mode(tmp_path / "a" / "b" / "c") == 0o700
    assert os.readlink(tmp_path / "link") == "a/b"
    assert not (tmp_path / "old").exists() and not (tmp_path / "olddir").exists()
    again = run(tmp_path, entries)
    assert again["changed"] is False, again
    entries[2]["src"] = "a"
    relinked = run(tmp_path, entries)
    assert list(relinked["files"].values())[2]["changed"] and os.readlink(tmp_path / "link") == "a"


def test_parents_are_not_created_implicitly(tmp_path: Path) -> None:
    result = run(tmp_path, [{"path": str(tmp_path / "x" / "y"), "state": "directory"}])
    assert result.get("failed") and "does not exist" in result["msg"]
    result = run(tmp_path, [{"path": str(tmp_path / "x" / "f"), "content": "1"}])
    assert result.get("failed") and "does not exist" in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_diff_shape_and_secret_entries(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [conf(tmp_path, "public\n"),
               {"path": str(tmp_path / "secret.conf"), "content": "password = hunter2\n", "mode": "0600",
                "secret": True, "key": "secret"}]
    result = run(tmp_path, entries)
    assert result["files"]["secret"] == {"changed": True, "path": str(tmp_path / "secret.conf"), "state": "file"}
    assert [d["before_header"] for d in result["diff"]] == [str(tmp_path / "app.conf")]
    assert set(result["diff"][0]) == {"before_header", "after_header", "before", "after"}
    (tmp_path / "secret.conf").chmod(0o644)
    entries[1]["content"] = "password = swordfish\n"
    again = run(tmp_path, entries)
    assert again["files"]["secret"]["changed"] and again["diff"] == []
    text = json.dumps({k: v for k, v in again.items() if k != "invocation"})
    assert "hunter2" not in text and "swordfish" not in text
    assert mode(tmp_path / "secret.conf") == 0o600


def test_entries_are_checked(tmp_path: Path) -> None:
    too_big = run(tmp_path, [conf(tmp_path, "x" * (1024 * 1024 + 1))])
    assert too_big.get("failed") and "larger than 1 MiB" in too_big["msg"]
    relative = run(tmp_path, [{"path": "etc/x", "content": ""}])
    assert relative.get("failed") and "absolute" in relative["msg"]
    twice = run(tmp_path, [conf(tmp_path), conf(tmp_path)])
    assert twice.get("failed") and "used twice" in twice["msg"]
    assert list(tmp_path.iterdir()) == []
