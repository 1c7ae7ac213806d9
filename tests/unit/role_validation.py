"""Run a role's validation against a host nothing listens on (the *_validation unit tests).

Argument specs and assert tasks run on the control node, so a correct role
fails with a message naming the variable and never tries to connect; a role
that let the value through would get past validation and fail later: at its
first fact-dependent step (no facts are gathered here) or at the first
remote task (the host is UNREACHABLE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "validation" / "play.yml"
PAST_VALIDATION = ("UNREACHABLE", "has no attribute 'distribution'")

# --- the store roles ---------------------------------------------------------------------------

GOOD_REDIS: dict[str, Any] = {
    "redis_session_store_admin_password": "A" * 24,
    "redis_session_store_app_users": [{"name": "app", "password": "B" * 24, "key_prefix": "app:sess:"}],
}


def run_role(tmp_path: Path, role: str, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    target:\n      ansible_host: 127.0.0.1\n      ansible_port: 9\n"
        "      ansible_connection: ssh\n      ansible_ssh_common_args: -o ConnectTimeout=2\n"
    )
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps({"role_under_test": role, **extra}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(playbook), "-i", str(inventory), str(PLAY), "-e", f"@{extra_vars}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )


def assert_refused_early(tmp_path: Path, role: str, good: dict[str, Any], case: str, override: dict[str, Any],
                         variable: str) -> None:
    """The role refuses ``good`` changed by ``override`` before any host change, naming ``variable``."""
    # A None value removes the variable: "missing" rather than "empty".
    extra = {k: v for k, v in {**good, **override}.items() if v is not None}
    result = run_role(tmp_path, role, extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert variable in output, output[-2000:]
    assert not any(m in output for m in PAST_VALIDATION), f"{case}: validation let the value through: " + output[-2000:]


def assert_passes_validation(tmp_path: Path, role: str, good: dict[str, Any]) -> None:
    """Control: valid input gets past validation and fails only later."""
    result = run_role(tmp_path, role, good)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert any(m in output for m in PAST_VALIDATION), output[-2000:]


# --- php_session_app: fake store hosts whose client view is plain host vars --------------------

REDIS_VIEW = {
    "name": "fake-redis", "server_name": "fake-redis", "host": "127.0.0.1", "port": 6379, "tls_port": 6379,
    "tls_auth_clients": "no", "ca_cert_local": "/nonexistent/ca.crt",
    "app_users": [{"name": "shop", "password": "S" * 24, "key_prefix": "shop:sess:"}],
}
PG_VIEW = {
    "name": "fake-pg", "host": "127.0.0.1", "port": 5432, "server_port": 5432, "database": "sessions",
    "schema": "session_store", "table": "session_data", "app_role": "session_app", "app_password": "P" * 24,
    "clientcert": "none", "ca_cert_local": "/nonexistent/ca.crt", "idle_timeout": 1800,
}
GOOD_APPS: list[dict[str, Any]] = [
    {"name": "shop", "store": "redis", "store_user": "shop", "port": 8443},
    {"name": "ledger", "store": "postgresql", "port": 8444},
    {"name": "notes", "store": "files", "port": 8445},
]


def run_app_role(tmp_path: Path, extra: dict[str, Any], *, redis_view: bool | dict[str, Any] = True) -> str:
    """Run php_session_app's validation; ``redis_view``: the fake Redis store's client view (True:
    REDIS_VIEW, False: none published)."""
    target = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh",
              "ansible_ssh_common_args": "-o ConnectTimeout=2"}
    inventory = {"all": {
        "hosts": {"target": target},
        "children": {
            "redis_session_stores": {"hosts": {"fake-redis": {"redis_session_store_client": (
                redis_view if isinstance(redis_view, dict) else REDIS_VIEW)} if redis_view else {}}},
            "postgresql_session_stores": {"hosts": {"fake-pg": {"postgresql_session_store_client": PG_VIEW,
                                                                "ansible_host": "pg1.example.org"}}},
            "empty_stores": {"hosts": {}},
        },
    }}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "vars.json").write_text(json.dumps({"role_under_test": "php_session_app", **extra}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(PLAY), "-e", f"@{tmp_path / 'vars.json'}",
         "--limit", "target"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr



GOOD_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
# A well-formed sha256 of a Phalcon source archive.
SHA = "a" * 64
