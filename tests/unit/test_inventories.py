"""Example inventories parse, and every playbook passes a syntax check on each."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORIES = {
    "lab": [],
    "production": ["--vault-id", f"prod@{ROOT}/inventories/production/vault-pass.example.txt"],
    "staging": ["--vault-id", f"staging@{ROOT}/inventories/staging/vault-pass.example.txt"],
}
PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))
GROUPS = {"redis_session_stores", "postgresql_session_stores", "session_apps"}


def ansible(tool: str, *args: str, env: dict[str, str] | None = None,
            timeout: int = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout, check=False)


@functools.cache
def inventory(name: str) -> dict[str, Any]:
    """`ansible-inventory --list` of an example, once per test process."""
    result = ansible("ansible-inventory", "-i", f"inventories/{name}", *INVENTORIES[name], "--list")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_inventory_lists(name: str) -> None:
    data = inventory(name)
    assert set(data) >= GROUPS, sorted(data)
    # Every file of the directory is inventory unless its extension is ignored:
    # a stray file (a vault password) would turn into a host.
    assert not data.get("ungrouped", {}).get("hosts"), data["ungrouped"]


@pytest.mark.parametrize("name", ["production", "staging"])
def test_secrets_come_from_the_vault(name: str) -> None:
    vault = ROOT / "inventories" / name / "group_vars/all/vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;"), "vault file must stay encrypted"
    hostvars = inventory(name)["_meta"]["hostvars"]
    redis = next(v for h, v in hostvars.items() if h.startswith("redis1."))
    assert redis["redis_session_store_admin_password"] == "{{ vault_redis_admin_password }}"


@pytest.mark.parametrize("inventory", list(INVENTORIES))
def test_playbook_syntax(inventory: str) -> None:
    assert {"site.yml", "verify.yml", "redis.yml"} <= set(PLAYBOOKS)
    result = ansible("ansible-playbook", "-i", f"inventories/{inventory}", *INVENTORIES[inventory],
                     "--syntax-check", *(f"playbooks/{p}" for p in PLAYBOOKS))
    assert result.returncode == 0, result.stdout + result.stderr


# Stand-ins for the example vaults' CHANGE-ME placeholders (which the roles
# refuse), so the rest of each example inventory goes through validation.
STAND_INS = {
    "vault_session_pki_ca_passphrase": "stand-in-ca-passphrase-1234567890",
    **{f"vault_{name}_password": f"StandIn{name.title().replace('_', '')}Passw0rd1234"
       for name in ("redis_admin", "redis_shop", "redis_replication", "redis_sentinel", "redis_check",
                    "pg_ledger", "pg_replication", "pg_rewind", "patroni_api")},
}


def run_locally(tmp_path: Path, name: str, playbook: str, extra: dict[str, Any], *args: str,
                env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    """A playbook that changes no host on an example inventory, every host reached locally
    (sudo is a stand-in)."""
    extra_vars = tmp_path / f"{name}.json"
    extra_vars.write_text(json.dumps({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                      "ansible_become_exe": str(Path(__file__).parent / "validation" / "no-sudo"),
                                      **extra}))
    return ansible("ansible-playbook", "-i", f"inventories/{name}", *INVENTORIES[name],
                   "-e", f"@{extra_vars}", *args, playbook, env=env, timeout=timeout)


def validate(tmp_path: Path, name: str, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """playbooks/validate.yml on an example inventory, every host reached locally.

    Validation changes nothing; it gathers facts (local ones here) and asks
    the PostgreSQL members whether they are the primary (no server here:
    the answer is "unknown", as on a new host).
    """
    return run_locally(tmp_path, name, "playbooks/validate.yml", extra, *args)


@pytest.mark.parametrize("name", ["production", "staging"])
def test_example_inventory_passes_validation(tmp_path: Path, name: str) -> None:
    """Every role accepts the example's values once the vault holds real secrets."""
    result = validate(tmp_path, name, STAND_INS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    recap = re.findall(r"^(\S+)\s+: ok=\d+ .*failed=(\d+)", result.stdout, re.M)
    hosts = inventory(name)["_meta"]["hostvars"]
    assert {host for host, failed in recap if failed == "0"} == set(hosts), recap
    # An app on each store kind: the examples deploy a whole kit.
    apps = next(v for h, v in hosts.items() if h.startswith("app1."))["php_session_app_apps"]
    assert {app["store"] for app in apps} == {"redis", "postgresql"}
    assert all(not v.get("php_session_app_probe_enabled", False) for v in hosts.values())


@pytest.mark.parametrize("name", ["production", "staging"])
def test_example_placeholders_are_refused(tmp_path: Path, name: str) -> None:
    """Deployed unchanged, an example stops at validation, naming the variable."""
    result = validate(tmp_path, name, {}, "--limit", "redis_session_stores")
    assert result.returncode != 0
    assert "redis_session_store_admin_password" in result.stdout, result.stdout[-4000:]
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout
