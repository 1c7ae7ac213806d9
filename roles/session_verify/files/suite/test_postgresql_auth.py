"""PostgreSQL session stores: who may log in, and how.

Only the apps' login roles over the network, to the session database only,
with SCRAM verifiers; postgres (and an HA cluster's replication role) the
only privileged roles.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import re

import pytest
from pg_client import Store, apps_of, ha_login_roles, is_ha, metrics_roles, psql, refused

# --- authentication -------------------------------------------------------------------

def test_wrong_password_is_refused(pg_store: Store) -> None:
    message = refused(pg_store, password=pg_store["app_password"] + "x")
    assert "password authentication failed" in message, message


def test_postgres_superuser_is_not_reachable_over_the_network(pg_store: Store) -> None:
    message = refused(pg_store, user="postgres", password="postgres")
    assert "no pg_hba.conf entry" in message, message


@pytest.mark.parametrize("who", ["owner_role", "gc_role"])
def test_other_session_roles_are_not_reachable_over_the_network(pg_store: Store, who: str) -> None:
    message = refused(pg_store, user=pg_store[who], password="whatever-password")
    assert "no pg_hba.conf entry" in message, message


def test_app_role_reaches_only_the_session_database(pg_store: Store) -> None:
    for dbname in ("postgres", "template1"):
        message = refused(pg_store, dbname=dbname)
        assert "no pg_hba.conf entry" in message, message


def test_every_password_is_a_scram_verifier(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL")
    entries = [line.split(" ", 1) for line in rows.splitlines() if line]
    assert sorted(name for name, _ in entries) == sorted([a["name"] for a in apps_of(pg_store)]
                                                         + ha_login_roles(pg_store) + metrics_roles(pg_store))
    for name, verifier in entries:
        assert re.match(r"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$", verifier), name


def test_only_postgres_is_privileged(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT rolname FROM pg_roles WHERE rolsuper OR rolcreaterole OR rolcreatedb "
                          "OR rolreplication OR rolbypassrls ORDER BY 1")
    # HA: the replication role has REPLICATION (and nothing else, test_postgresql_ha_replication.py).
    assert rows.split() == sorted(["postgres"] + ([pg_store["replication_role"]] if is_ha(pg_store) else []))


def test_role_attributes(pg_store: Store) -> None:
    app_roles = [a["name"] for a in apps_of(pg_store)]
    names = ", ".join(f"'{n}'" for n in [pg_store["owner_role"], pg_store["gc_role"], *app_roles])
    rows = psql(pg_store, f"SELECT rolname || ' ' || rolcanlogin::int FROM pg_roles WHERE rolname IN ({names}) "
                          "ORDER BY 1")
    logins = dict(line.split() for line in rows.splitlines())
    assert logins == {pg_store["owner_role"]: "0", pg_store["gc_role"]: "1", **{r: "1" for r in app_roles}}
    members = psql(pg_store, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                             f"WHERE r.rolname IN ({names})")
    assert members == "0"
