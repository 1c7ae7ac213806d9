"""session_migrate: bad input fails before any host is touched, naming the variable.

Like test_app_validation.py: the role runs against a host nothing listens on,
so a correct role fails on the control node (argument specs, assert tasks)
and input it lets through fails later, when it first reaches the host
(UNREACHABLE) - the control case proves the rows can tell the two apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "validation" / "play.yml"
APPS = [
    {"name": "shop", "store": "redis", "store_user": "shop", "port": 8443},
    {"name": "notes", "store": "files", "port": 8445},
]


def run_migrate(tmp_path: Path, extra: dict[str, Any]) -> str:
    target = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh",
              "ansible_ssh_common_args": "-o ConnectTimeout=2", "php_session_app_apps": APPS}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"target": target}}}))
    (tmp_path / "vars.json").write_text(json.dumps({"role_under_test": "session_migrate", **extra}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(PLAY), "-e", f"@{tmp_path / 'vars.json'}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.mark.parametrize(("extra", "variable", "detail"), [
    ({"session_migrate_apps": []}, "session_migrate_apps", "one or more app names"),
    ({"session_migrate_apps": ["Shop"]}, "session_migrate_apps", "one or more app names"),
    ({"session_migrate_apps": ["shop\n"]}, "session_migrate_apps", "one or more app names"),
    ({"session_migrate_apps": "shop"}, "session_migrate_apps", "list"),
    ({"session_migrate_apps": ["ghost"]}, "session_migrate_apps", "no such app"),
    ({"session_migrate_apps": ["notes"]}, "session_migrate_apps", "still has store files"),
    ({"session_migrate_apps": ["shop"], "session_migrate_files_dir": "/etc"}, "session_migrate_files_dir",
     "non-system directory"),
    ({"session_migrate_apps": ["shop"], "session_migrate_files_dir": "relative/dir"}, "session_migrate_files_dir",
     "non-system directory"),
], ids=["empty", "uppercase", "trailing-newline", "not-a-list", "unknown-app", "still-on-files", "system-dir",
        "relative-dir"])
def test_bad_input_is_refused_naming_the_variable(tmp_path: Path, extra: dict[str, Any], variable: str,
                                                   detail: str) -> None:
    out = run_migrate(tmp_path, extra)
    assert variable in out and detail in out, out[-3000:]
    assert "UNREACHABLE" not in out, "validation let the value through to the host"


def test_good_input_passes_validation(tmp_path: Path) -> None:
    out = run_migrate(tmp_path, {"session_migrate_apps": ["shop"]})
    assert "UNREACHABLE" in out, out[-3000:]
