"""The kit_files action end to end: a playbook against localhost (connection local).

tests/unit/kit_files/play.yml renders a template per app with the app as the
entry's vars, writes a secret file and notifies a handler through a
result-reading task. Proves the render, idempotence (second run changed=0, no
handler), check mode (nothing written) and that no_log and secret entries keep
the password out of the output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "kit_files" / "play.yml"
PASSWORD = "kit-files-Secret-4711"


def play(target: Path, *args: str) -> tuple[str, dict[str, int]]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(playbook), "-i", "localhost,", "-c", "local", str(PLAY),
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"kit_files_dir={target}",
         "-e", f"kit_files_password={PASSWORD}", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)", out)
    assert recap, out[-3000:]
    return out, {"ok": int(recap.group(1)), "changed": int(recap.group(2))}


def test_render_idempotence_and_handler(tmp_path: Path) -> None:
    target = tmp_path / "etc"
    out, recap = play(target, "--diff")
    assert recap["changed"] == 2 and "HANDLER-FIRED" in out
    shop = (target / "shop.conf").read_text()
    assert shop.startswith("# Ansible managed\n")
    assert "app = shop\nport = 8443\nshared = yes\n" in shop
    assert "app = notes\nport = 8444\n" in (target / "notes.conf").read_text()
    assert (target / "secret.conf").read_text() == f"password = {PASSWORD}\n"
    assert "+app = shop" in out, "no diff for a file that is not secret"
    assert PASSWORD not in out

    out, recap = play(target, "--diff")
    assert recap["changed"] == 0 and "HANDLER-FIRED" not in out

    (target / "notes.conf").write_text("drift\n")
    out, recap = play(target)
    assert recap["changed"] == 2 and "HANDLER-FIRED" in out
    assert "app = notes" in (target / "notes.conf").read_text()


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "etc"
    out, recap = play(target, "--check", "--diff")
    assert recap["changed"] == 2 and "+app = shop" in out
    assert not target.exists()
    play(target)
    (target / "shop.conf").chmod(0o644)
    out, recap = play(target, "--check")
    assert recap["changed"] == 2
    assert (target / "shop.conf").stat().st_mode & 0o777 == 0o644


def test_no_log_hides_everything(tmp_path: Path) -> None:
    out, _ = play(tmp_path / "etc", "--diff", "-v", "-e", "kit_files_no_log=true")
    assert "+app = shop" not in out and PASSWORD not in out
    assert "censored" in out
