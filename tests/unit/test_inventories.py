"""Example inventories parse, and every playbook passes a syntax check on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORIES = {
    "lab": [],
    "production": ["--vault-id", f"prod@{ROOT}/inventories/production/vault-pass.example"],
    "staging": ["--vault-id", f"staging@{ROOT}/inventories/staging/vault-pass.example"],
}
PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))
GROUPS = {"redis_session_stores", "postgresql_session_stores", "session_apps"}


def ansible(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=180, check=False)


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_inventory_lists(name: str) -> None:
    result = ansible("ansible-inventory", "-i", f"inventories/{name}", *INVENTORIES[name], "--list")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= GROUPS, sorted(data)


@pytest.mark.parametrize("name", ["production", "staging"])
def test_secrets_come_from_the_vault(name: str) -> None:
    vault = ROOT / "inventories" / name / "group_vars/all/vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;"), "vault file must stay encrypted"
    result = ansible("ansible-inventory", "-i", f"inventories/{name}", *INVENTORIES[name], "--list")
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    redis = next(v for h, v in hostvars.items() if h.startswith("redis1."))
    assert redis["redis_session_store_admin_password"] == "{{ vault_redis_admin_password }}"


@pytest.mark.parametrize("inventory", list(INVENTORIES))
def test_playbook_syntax(inventory: str) -> None:
    assert {"site.yml", "verify.yml", "redis.yml"} <= set(PLAYBOOKS)
    result = ansible("ansible-playbook", "-i", f"inventories/{inventory}", *INVENTORIES[inventory],
                     "--syntax-check", *(f"playbooks/{p}" for p in PLAYBOOKS))
    assert result.returncode == 0, result.stdout + result.stderr
