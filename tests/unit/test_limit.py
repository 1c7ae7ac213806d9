"""--limit per tier (issue #23, item 3): site.yml stops before anything changes when --limit leaves out
what the named hosts need (the control node, the stores' client views), names the run that works, and
that run converges only the named tier (the stores' converge play skipped, their client views read)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from role_validation import GOOD_REDIS, PKI_DEFAULTS, ROOT

UNREACHABLE = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh",
               "ansible_ssh_common_args": "-o ConnectTimeout=2"}
READ_ONLY_STORES = "app1:redis_session_stores:postgresql_session_stores:localhost"


def _site(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    inventory = {"all": {"vars": {**UNREACHABLE, **PKI_DEFAULTS}, "children": {
        "redis_session_stores": {"hosts": {"redis1": GOOD_REDIS}},
        "postgresql_session_stores": {"hosts": {"pg1": {}}},
        "session_apps": {"hosts": {"app1": {}}},
    }}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                           str(ROOT / "playbooks" / "site.yml"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False)


def test_limit_to_an_app_host_without_the_control_node_stops_first(tmp_path: Path) -> None:
    result = _site(tmp_path, "--limit", "app1")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "leaves out localhost" in out and "--limit 'app1:localhost'" in out, out[-3000:]
    assert "UNREACHABLE" not in out, out[-3000:]


def test_limit_to_an_app_host_names_the_run_that_reads_the_stores(tmp_path: Path) -> None:
    result = _site(tmp_path, "--limit", "app1:localhost")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "--limit app1:localhost leaves out the store host(s) redis1, pg1" in out, out[-3000:]
    assert "--skip-tags stores" in out, out[-3000:]
    # Stopped before connecting to anything (the app host included) and before the CA play.
    assert "UNREACHABLE" not in out and "Create the private CA" not in out, out[-3000:]


def test_without_verification_the_control_node_is_not_needed(tmp_path: Path) -> None:
    result = _site(tmp_path, "--limit", "app1", "--skip-tags", "verify")
    out = result.stdout + result.stderr
    assert "leaves out localhost" not in out, out[-3000:]
    assert "leaves out the store host(s)" in out, out[-3000:]


def _tasks_by_play(listing: str) -> dict[str, list[str]]:
    plays: dict[str, list[str]] = {}
    current = ""
    for line in listing.splitlines():
        match = re.match(r"\s*play #\d+ \(.*\): (.*?)\tTAGS", line)
        if match:
            current = match.group(1)
            plays.setdefault(current, [])
        elif current and line.startswith("      ") and "TAGS:" in line:
            plays[current].append(line.strip())
    return plays


def test_the_read_only_run_skips_only_the_stores_converge(tmp_path: Path) -> None:
    result = _site(tmp_path, "--limit", READ_ONLY_STORES, "--skip-tags", "stores", "--list-tasks")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    plays = _tasks_by_play(result.stdout)
    assert plays["Session stores"] == [], plays["Session stores"]
    for name in ("Validate the Redis store input", "Publish the client view of the Redis stores",
                 "Publish the client view of the PostgreSQL stores", "PHP session apps", "Verify from the client side"):
        assert plays[name], f"{name}: {plays}"
    hosts = _site(tmp_path, "--limit", READ_ONLY_STORES, "--skip-tags", "stores", "--list-hosts").stdout
    assert "PHP session apps" in hosts and "redis1" in hosts


@pytest.mark.parametrize("limit", ["redis1:localhost", READ_ONLY_STORES])
def test_the_runs_that_work_get_past_the_checks(tmp_path: Path, limit: str) -> None:
    result = _site(tmp_path, "--limit", limit, "--skip-tags", "stores")
    out = result.stdout + result.stderr
    assert "leaves out localhost" not in out and "leaves out the store" not in out, out[-3000:]
    # Past every check: the first remote task (the Redis host's CA file) finds no host listening.
    assert "UNREACHABLE" in out, out[-3000:]
