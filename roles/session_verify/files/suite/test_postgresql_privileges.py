"""PostgreSQL session stores: the app roles do their session work and nothing else.

The Phalcon adapter's statements work; DDL, other tables, other apps'
sessions, roles, files and databases are refused; the privileges are
exactly the contract, PUBLIC has nothing, no grant options, no SECURITY
DEFINER functions.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import re
import time

import psycopg
import pytest
from pg_client import Store, apps_of, connect, primary_of, psql, sid, table_of
from psycopg import sql

# --- the app role: session work and nothing else ----------------------------------------

def test_app_role_does_session_work(pg_store: Store) -> None:
    pg_store = primary_of(pg_store)
    key = sid()
    now = int(time.time())
    with connect(pg_store) as conn:
        assert conn.execute("SHOW search_path").fetchone() == (pg_store["schema"],)
        # The Phalcon incubator Database adapter's statements.
        conn.execute(f'INSERT INTO "{pg_store["table"]}" (session_id, data, created_at, modified_at) '
                     "VALUES (%s, %s, %s, NULL)", (key, b'user|s:5:"alice";', now))
        conn.commit()
        with conn.transaction():
            row = conn.execute(f'SELECT data FROM "{pg_store["table"]}" WHERE session_id = %s '
                               "AND COALESCE(modified_at, created_at) + %s >= %s FOR UPDATE",
                               (key, int(pg_store["idle_timeout"]), now)).fetchone()
            assert row == (b'user|s:5:"alice";',)
            conn.execute(f'UPDATE "{pg_store["table"]}" SET data = %s, modified_at = %s WHERE session_id = %s',
                         (b'user|s:3:"bob";', now + 1, key))
        assert conn.execute(f'SELECT data, modified_at FROM "{pg_store["table"]}" WHERE session_id = %s',
                            (key,)).fetchone() == (b'user|s:3:"bob";', now + 1)
        assert conn.execute(f'DELETE FROM "{pg_store["table"]}" WHERE session_id = %s', (key,)).rowcount == 1
        conn.commit()


def test_session_id_of_256_characters_fits(pg_store: Store) -> None:
    pg_store = primary_of(pg_store)
    key = ("v" * 256)[: int(pg_store["session_id_length"])]
    with connect(pg_store) as conn:
        conn.execute(f'INSERT INTO "{pg_store["table"]}" (session_id, data, created_at) VALUES (%s, %s, %s)',
                     (key, b"x", int(time.time())))
        conn.rollback()


@pytest.mark.parametrize("statement", [
    "CREATE TABLE {schema}.intruder (a int)",
    "CREATE TABLE public.intruder (a int)",
    "CREATE TEMPORARY TABLE intruder (a int)",
    "TRUNCATE {schema}.{table}",
    "DROP TABLE {schema}.{table}",
    "ALTER TABLE {schema}.{table} ADD COLUMN intruder int",
    "CREATE INDEX intruder ON {schema}.{table} (data)",
    "SELECT rolpassword FROM pg_authid",
    "CREATE ROLE intruder",
    "CREATE FUNCTION {schema}.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION public.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION pg_temp.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA intruder",
    "ALTER ROLE {app_role} CREATEDB",
    "SET ROLE {owner_role}",
    "COPY {schema}.{table} TO '/tmp/sessions.txt'",
    "SELECT pg_read_file('postgresql.auto.conf')",
])
def test_app_role_is_refused(pg_store: Store, statement: str) -> None:
    pg_store = primary_of(pg_store)
    sql = statement.format(**{k: pg_store[k] for k in ("schema", "table", "app_role", "owner_role")})
    with connect(pg_store) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql)


def test_app_role_cannot_create_databases(pg_store: Store) -> None:
    pg_store = primary_of(pg_store)
    with connect(pg_store, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE DATABASE intruder")


def test_privileges_are_exactly_the_contract(pg_store: Store) -> None:
    """Each app role: its own table only; the GC role: SELECT and DELETE on every app table."""
    db, schema = pg_store["database"], pg_store["schema"]
    apps = apps_of(pg_store)
    privileges = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
    # Both login roles of an app hold its privileges (they take turns at each credential rotation).
    expected: dict[str, dict[str, set[str]]] = {
        role: {other["table"]: ({"SELECT", "INSERT", "UPDATE", "DELETE"} if other is app else set())
               for other in apps}
        for app in apps for role in app.get("login_roles", [app["name"]])
    }
    expected[pg_store["gc_role"]] = {app["table"]: {"SELECT", "DELETE"} for app in apps}
    for role, tables in expected.items():
        # One query per role (each psql is a round trip over the inventory connection).
        checks = {("table", t, p): f"has_table_privilege('{role}', '{schema}.{t}', '{p}')"
                  for t in tables for p in privileges}
        checks |= {("database", db, p): f"has_database_privilege('{role}', '{db}', '{p}')"
                   for p in ("CONNECT", "CREATE", "TEMPORARY")}
        checks |= {("schema USAGE", schema, ""): f"has_schema_privilege('{role}', '{schema}', 'USAGE')"}
        checks |= {("schema CREATE", s, ""): f"has_schema_privilege('{role}', '{s}', 'CREATE')"
                   for s in (schema, "public")}
        answers = psql(pg_store, "SELECT " + ", ".join(checks.values()), db).split("|")
        assert len(answers) == len(checks), answers
        has = {check for check, answer in zip(checks, answers, strict=True) if answer == "t"}
        for table, allowed in tables.items():
            assert {p for kind, t, p in has if kind == "table" and t == table} == allowed, (role, table)
        assert {p for kind, _, p in has if kind == "database"} == {"CONNECT"}, role
        assert ("schema USAGE", schema, "") in has, role
        assert not {c for c in has if c[0] == "schema CREATE"}, role


def test_apps_cannot_touch_each_others_sessions(pg_store: Store) -> None:
    """App A's role can neither read, insert, update nor delete app B's sessions (and B's row stays)."""
    pg_store = primary_of(pg_store)
    apps = apps_of(pg_store)
    if len(apps) < 2:
        pytest.skip("one application on this store")
    now = int(time.time())
    for owner in apps:
        key = sid()
        with connect(pg_store, app=owner, autocommit=True) as conn:
            conn.execute(sql.SQL("INSERT INTO {} (session_id, data, created_at) VALUES (%s, %s, %s)")
                         .format(table_of(pg_store, owner)), (key, b"secret of " + owner["name"].encode(), now))
        try:
            for intruder in (a for a in apps if a is not owner):
                attempts = [
                    ("SELECT data FROM {} WHERE session_id = %s", (key,)),
                    ("SELECT count(*) FROM {}", ()),
                    ("INSERT INTO {} (session_id, data, created_at) VALUES (%s, %s, %s)", (sid(), b"forged", now)),
                    ("UPDATE {} SET data = %s WHERE session_id = %s", (b"forged", key)),
                    ("DELETE FROM {} WHERE session_id = %s", (key,)),
                ]
                with connect(pg_store, app=intruder, autocommit=True) as conn:
                    for statement, args in attempts:
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            conn.execute(sql.SQL(statement).format(table_of(pg_store, owner)), args)
                    # Control: the intruder's own table works on the same connection.
                    conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table_of(pg_store, intruder)))
            with connect(pg_store, app=owner, autocommit=True) as conn:
                row = conn.execute(sql.SQL("SELECT data FROM {} WHERE session_id = %s")
                                   .format(table_of(pg_store, owner)), (key,)).fetchone()
                assert row == (b"secret of " + owner["name"].encode(),)
        finally:
            with connect(pg_store, app=owner, autocommit=True) as conn:
                conn.execute(sql.SQL("DELETE FROM {} WHERE session_id = %s").format(table_of(pg_store, owner)), (key,))


def test_public_has_nothing(pg_store: Store) -> None:
    db, schema, table = pg_store["database"], pg_store["schema"], pg_store["table"]
    acls = psql(pg_store, f"SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = '{db}'", db)
    assert not re.search(r"(^|[{,])=", acls), acls
    for nsp in (schema, "public"):
        acl = psql(pg_store, f"SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = '{nsp}'", db)
        assert not re.search(r"(^|[{,])=", acl), (nsp, acl)
    acl = psql(pg_store, "SELECT coalesce(relacl::text, '') FROM pg_class "
                         f"WHERE oid = '{schema}.{table}'::regclass", db)
    assert not re.search(r"(^|[{,])=", acl), acl


def test_no_grant_options_and_no_security_definer(pg_store: Store) -> None:
    db, schema, owner = pg_store["database"], pg_store["schema"], pg_store["owner_role"]
    # Every ACL entry of the session objects; only their owners may hold grant options.
    entries = (f"SELECT (aclexplode(relacl)).* FROM pg_class WHERE relnamespace = '{schema}'::regnamespace "
               "UNION ALL SELECT (aclexplode(nspacl)).* FROM pg_namespace "
               f"WHERE nspname IN ('{schema}', 'public') "
               f"UNION ALL SELECT (aclexplode(datacl)).* FROM pg_database WHERE datname = '{db}'")
    owners = f"SELECT oid FROM pg_roles WHERE rolname IN ('{owner}', 'pg_database_owner', 'postgres')"
    grantable = psql(pg_store, f"SELECT count(*) FROM ({entries}) AS a "
                               f"WHERE a.is_grantable AND a.grantee NOT IN ({owners})", db)
    assert grantable == "0"
    definers = psql(pg_store, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                              "WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')", db)
    assert definers == "0"
