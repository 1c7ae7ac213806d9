"""PostgreSQL credential rotation under load (playbooks/rotate_credentials.yml).

The postgresql-ha scenario's side effect (after the failover) puts a new
password for the app "ledger" in the scenario's secret source (keeping the
old one aside under MOLECULE_EPHEMERAL_DIRECTORY/rotation-pg/pg_ledger.old),
runs the playbook while a bounded loop of session requests goes through
ledger on the app host, writes the loop's figures to rotation-pg/load.json,
then runs the playbook again and records its recap (rerun.json). These
tests prove, from the client's side and on every member: no request
failed and the loop's session carried on, ledger now uses its other login
role, the old password is refused for both login roles, the new one works
for the role in use only, a certificate of another role cannot log in as
either, and the re-run changed nothing. Without that record (any other
inventory) they are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import CONTEXT, scenario_record
from pg_client import connect, members_of, primary_of, psql

Store = dict[str, Any]
APP = "ledger"


RECORD = scenario_record("rotation-pg", "load.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no PostgreSQL rotation record (the molecule postgresql-ha "
                                                       "scenario's side effect writes it)")


def stores() -> list[Store]:
    """The members of the store(s) serving ledger (each HA member is one entry)."""
    found = [dict(s) for s in CONTEXT.get("postgresql", []) if any(a.get("app") == APP for a in s.get("apps", []))]
    assert found, f"no PostgreSQL store in the verification context serves {APP}"
    return found


def ledger(store: Store) -> dict[str, Any]:
    return dict(next(a for a in store["apps"] if a.get("app") == APP))


def as_role(store: Store, role: str, password: str, cert_role: str) -> dict[str, Any]:
    """Who connects: a login role, a password and the kit's client certificate of ``cert_role``."""
    clients = Path(store["client_cert_local"]).parent
    return {"name": role, "password": password, "client_cert_local": str(clients / f"{cert_role}.crt"),
            "client_key_local": str(clients / f"{cert_role}.key")}


def old_password() -> str:
    assert RECORD is not None
    return (RECORD / "pg_ledger.old").read_text().strip()


def refused_as(store: Store, who: dict[str, Any]) -> str:
    with pytest.raises(psycopg.OperationalError) as info:
        connect(store, app=who, with_cert=True).close()
    return str(info.value)


def test_no_session_request_failed_during_the_rotation() -> None:
    """The loop through ledger: 0 failures, and every request continued the same session (count + 1)."""
    assert RECORD is not None
    figures = json.loads((RECORD / "load.json").read_text())
    print(f"\nPostgreSQL rotation under load: {figures['requests']} requests, {figures['failures']} failures, "
          f"{figures['seconds']} s")
    assert figures["failures"] == 0, figures["errors"]
    # session_load.py counts a request that does not continue the session (another id, or a count
    # that is not the previous one + 1) as a failure: 0 failures over >= 20 requests is one session
    # that survived the rotation and grew.
    assert all(u["requests"] >= 20 for u in figures["per_url"].values()), figures["per_url"]


def test_ledger_uses_its_other_login_role_and_the_first_is_retired() -> None:
    """The rotation moved ledger to its second role; the first is NOLOGIN without a password (every member)."""
    for store in stores():
        entry = ledger(store)
        assert entry["login_roles"] == [APP, f"{APP}_b"], entry["login_roles"]
        assert entry["name"] == f"{APP}_b", "the rotation did not move ledger to its other login role"
        rows = psql(store, "SELECT rolname || ' ' || rolcanlogin::int || ' ' || (rolpassword IS NOT NULL)::int "
                           f"FROM pg_authid WHERE rolname IN ('{APP}', '{APP}_b') ORDER BY 1")
        assert rows.split("\n") == [f"{APP} 0 0", f"{APP}_b 1 1"], (store["name"], rows)


def test_old_password_is_refused_for_both_login_roles() -> None:
    """Over TLS with the role's own certificate, the old password opens neither login role, on any member."""
    old = old_password()
    for store in stores():
        assert old != ledger(store)["password"], "the side effect did not change the password"
        for role in ledger(store)["login_roles"]:
            message = refused_as(store, as_role(store, role, old, role))
            assert "authentication failed" in message, (store["name"], role, message)


def test_new_password_works_for_the_role_in_use_only() -> None:
    """The new password opens the role in use (and writes on the primary); the retired role stays shut."""
    for store in stores():
        entry = ledger(store)
        with connect(store, app=as_role(store, entry["name"], entry["password"], entry["name"])) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (entry["name"],)
        retired = next(r for r in entry["login_roles"] if r != entry["name"])
        message = refused_as(store, as_role(store, retired, entry["password"], retired))
        assert "authentication failed" in message, (store["name"], retired, message)
    primary = primary_of(stores()[0])
    entry = ledger(primary)
    with connect(primary, app=as_role(primary, entry["name"], entry["password"], entry["name"])) as conn:
        conn.execute(f"DELETE FROM {entry['table']} WHERE session_id = 'verify-rotation'")


def test_certificate_of_another_role_cannot_log_in_as_ledger() -> None:
    """clientcert=verify-full: with the right password, a certificate of shop's roles or of ledger's other
    role is refused for each of ledger's roles (the role's own certificate is the control)."""
    for store in stores():
        entry = ledger(store)
        assert store["clientcert"] == "verify-full", store["clientcert"]
        others = [r for a in store["apps"] if a.get("app") != APP for r in a["login_roles"]]
        assert others, "the store has no other app whose certificate could be tried"
        for cert_role in [*others, *(r for r in entry["login_roles"] if r != entry["name"])]:
            message = refused_as(store, as_role(store, entry["name"], entry["password"], cert_role))
            assert "authentication failed" in message, (store["name"], cert_role, message)
        connect(store, app=as_role(store, entry["name"], entry["password"], entry["name"])).close()


def test_rerun_with_nothing_to_rotate_changed_nothing() -> None:
    """rotate_credentials.yml again, no new password: changed=0 and failed=0 on every host."""
    assert RECORD is not None
    recap = json.loads((RECORD / "rerun.json").read_text())
    hosts = {m["name"] for m in members_of(stores()[0])}
    assert hosts <= {line.split(" ")[0] for line in recap}, recap
    assert all(" changed=0 " in f"{line} " and " failed=0 " in f"{line} " for line in recap), recap
