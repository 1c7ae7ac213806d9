"""PostgreSQL session stores, proven from a client's side.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; every hardening claim has the
connection that must work and the one that must be refused. testinfra
inspects the host (files, catalog as the postgres superuser over the local
socket, systemd units).

HA stores (postgresql_session_store_ha) are one entry per member: every
test runs against every member; a test that writes runs its writes against
the current primary (``primary_of``), and the GC test triggers the
primary's job. test_postgresql_ha.py adds what only a cluster has.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import subprocess
import time
import uuid
from typing import Any

import psycopg
import pytest
from conftest import CONTEXT, files_containing, host_for
from psycopg import sql
from tlsprobe import Handshake, client_context

Store = dict[str, Any]

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


# --- helpers ------------------------------------------------------------------------

def needs_cert(store: Store) -> bool:
    return str(store["clientcert"]) != "none"


def apps_of(store: Store) -> list[dict[str, Any]]:
    """The store's applications: one login role and table each."""
    assert "apps" in store, "the store publishes no per-app roles: every app shares one role and one table"
    return list(store["apps"])


def connect(store: Store, *, user: str | None = None, password: str | None = None, dbname: str | None = None,
            sslmode: str = "verify-full", with_cert: bool | None = None, app: dict[str, Any] | None = None,
            **kwargs: Any) -> psycopg.Connection:
    """A connection like the app opens it: TLS, the server certificate verified against the kit's CA.

    As ``app`` (an entry of the store's apps) or else as the first app.
    """
    who = app or {"name": store["app_role"], "password": store["app_password"],
                  "client_cert_local": store["client_cert_local"], "client_key_local": store["client_key_local"]}
    params: dict[str, Any] = {
        "host": store["host"], "port": int(store["port"]),
        "dbname": dbname or store["database"],
        "user": user or who["name"],
        "password": who["password"] if password is None else password,
        "sslmode": sslmode, "sslrootcert": store["ca_cert_local"],
        "connect_timeout": 10, "application_name": "session-verify",
    }
    if needs_cert(store) if with_cert is None else with_cert:
        params["sslcert"] = who["client_cert_local"]
        params["sslkey"] = who["client_key_local"]
    params.update(kwargs)
    return psycopg.connect(**params)


def is_ha(store: Store) -> bool:
    return bool(store.get("ha"))


def members_of(store: Store) -> list[Store]:
    """Every member of the store's HA cluster (the store itself for a single node)."""
    if not is_ha(store):
        return [store]
    return [s for s in CONTEXT.get("postgresql", []) if s.get("ha") and s.get("ha_scope") == store.get("ha_scope")]


def in_recovery(store: Store) -> bool:
    return psql(store, "SELECT pg_catalog.pg_is_in_recovery()") == "t"


def primary_of(store: Store, timeout: float = 60) -> Store:
    """The member that accepts writes now (the store itself for a single node)."""
    if not is_ha(store):
        return store
    deadline = time.monotonic() + timeout
    while True:
        for member in members_of(store):
            try:
                if not in_recovery(member):
                    return member
            except Exception: # a member that is down is not the primary
                continue
        assert time.monotonic() < deadline, f"no primary among {[m['name'] for m in members_of(store)]}"
        time.sleep(1)


def ha_login_roles(store: Store) -> list[str]:
    """Roles an HA cluster adds: replication and rewind (both with a password)."""
    return [store["replication_role"], store["rewind_role"]] if is_ha(store) else []


def table_of(store: Store, app: dict[str, Any]) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(store["schema"]), sql.Identifier(app["table"]))


def refused(store: Store, **kwargs: Any) -> str:
    """Connect and expect a refusal; return the server's message."""
    with pytest.raises(psycopg.OperationalError) as info:
        connect(store, **kwargs).close()
    return str(info.value)


def psql(store: Store, sql: str, dbname: str = "postgres") -> str:
    """Run SQL as the postgres superuser over the local socket (peer auth)."""
    host = host_for(store["name"])
    return str(host.check_output(
        "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -p %s -d %s -c %s",
        str(store["server_port"]), dbname, sql))


def sid() -> str:
    return "verify-" + uuid.uuid4().hex


def pg_handshake(store: Store, ctx: ssl.SSLContext, server_name: str | None = None) -> Handshake:
    """PostgreSQL's SSLRequest, a TLS handshake, then a startup message.

    The startup message proves the session is usable (TLS 1.3 reports a
    refused client certificate only on the first read).
    """
    try:
        with socket.create_connection((store["host"], int(store["port"])), timeout=10) as raw:
            raw.sendall(SSL_REQUEST)
            if raw.recv(1) != b"S":
                return Handshake(False, error="server declined SSLRequest")
            with ctx.wrap_socket(raw, server_hostname=server_name or store["host"]) as tls:
                version, negotiated = tls.version(), tls.cipher()
                cipher = negotiated[0] if negotiated else None
                body = b"user\0" + store["app_role"].encode() + b"\0database\0" + store["database"].encode() + b"\0\0"
                tls.sendall(struct.pack("!ii", 8 + len(body), 196608) + body)
                first = tls.recv(1)
                if first != b"R":  # an authentication request
                    return Handshake(False, version, cipher, f"no auth request after handshake: {first!r}")
                return Handshake(True, version, cipher)
    except (ssl.SSLError, OSError) as exc:
        return Handshake(False, error=f"{type(exc).__name__}: {exc}")


def cert_for(store: Store) -> tuple[str, str] | None:
    return (store["client_cert_local"], store["client_key_local"]) if needs_cert(store) else None


def openssl_group_works(store: Store, group: str) -> bool:
    cmd = ["openssl", "s_client", "-starttls", "postgres", "-connect", f"{store['host']}:{store['port']}",
           "-CAfile", store["ca_cert_local"], "-groups", group, "-verify_return_error", "-brief"]
    cert = cert_for(store)
    if cert:
        cmd += ["-cert", cert[0], "-key", cert[1]]
    result = subprocess.run(cmd, input=b"", capture_output=True, timeout=20, check=False)
    output = (result.stdout + result.stderr).decode(errors="replace")
    return "CONNECTION ESTABLISHED" in output


# --- transport ----------------------------------------------------------------------

def test_plaintext_connection_is_refused(pg_store: Store) -> None:
    message = refused(pg_store, sslmode="disable")
    assert "no pg_hba.conf entry" in message and "no encryption" in message, message


def test_tls_1_1_is_refused(pg_store: Store) -> None:
    old = client_context(pg_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_1,
                         max_version=ssl.TLSVersion.TLSv1_1, cert=cert_for(pg_store))
    result = pg_handshake(pg_store, old)
    assert not result.ok, result
    # Control: the same client construction with the lowest allowed version.
    lowest = ssl.TLSVersion[pg_store["ssl_min_protocol_version"].replace("TLSv1.", "TLSv1_")]
    good = client_context(pg_store["ca_cert_local"], min_version=lowest, max_version=lowest, cert=cert_for(pg_store))
    control = pg_handshake(pg_store, good)
    assert control.ok and control.version == pg_store["ssl_min_protocol_version"], control


def test_tls_1_2_follows_the_minimum_version(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    if pg_store["ssl_min_protocol_version"] == "TLSv1.3":
        assert not result.ok, result
    else:
        assert result.ok and result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", result


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
def test_non_profile_tls12_cipher_is_refused(pg_store: Store, cipher: str) -> None:
    ctx = client_context(pg_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher,
                         cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    assert not result.ok, result


def test_tls13_works(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_3, cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    assert result.ok and result.version == "TLSv1.3", result


def test_key_exchange_group(pg_store: Store) -> None:
    # PostgreSQL 15/17 take a single curve (ssl_groups is 18+): the configured one.
    assert openssl_group_works(pg_store, pg_store["ssl_ecdh_curve"])
    assert not openssl_group_works(pg_store, "secp521r1")


def test_server_certificate_fails_for_a_wrong_name(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx, server_name="not-the-store.invalid")
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error, result


def test_connection_uses_tls_from_the_profile(pg_store: Store) -> None:
    with connect(pg_store) as conn:
        row = conn.execute("SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    version, cipher = row
    assert version in ("TLSv1.2", "TLSv1.3")
    if version == "TLSv1.2":
        assert cipher in pg_store["ssl_ciphers"].split(":")


def test_client_without_certificate_is_refused_when_required(pg_store: Store) -> None:
    if not needs_cert(pg_store):
        pytest.skip("clientcert is none on this store")
    message = refused(pg_store, with_cert=False)
    assert "certificate" in message.lower(), message
    connect(pg_store).close()


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
                                                         + ha_login_roles(pg_store))
    for name, verifier in entries:
        assert re.match(r"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$", verifier), name


def test_only_postgres_is_privileged(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT rolname FROM pg_roles WHERE rolsuper OR rolcreaterole OR rolcreatedb "
                          "OR rolreplication OR rolbypassrls ORDER BY 1")
    # HA: the replication role has REPLICATION (and nothing else, test_postgresql_ha.py).
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


# --- schema contract ----------------------------------------------------------------------

def test_session_tables_follow_the_contract(pg_store: Store) -> None:
    db, schema = pg_store["database"], pg_store["schema"]
    for app in apps_of(pg_store):
        table = app["table"]
        rel = f"{schema}.{table}"
        columns = psql(pg_store, "SELECT column_name || ' ' || data_type || ' ' || "
                                 "coalesce(character_maximum_length, 0) || ' ' || is_nullable "
                                 f"FROM information_schema.columns WHERE table_schema = '{schema}' "
                                 f"AND table_name = '{table}' ORDER BY ordinal_position", db)
        assert columns.splitlines() == [
            f"session_id character varying {pg_store['session_id_length']} NO",
            "data bytea 0 NO",
            "created_at bigint 0 NO",
            "modified_at bigint 0 YES",
        ], table
        pkey = psql(pg_store, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                              f"WHERE conrelid = '{rel}'::regclass AND contype = 'p'", db)
        assert pkey == "PRIMARY KEY (session_id)"
        owners = psql(pg_store, f"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '{rel}'::regclass "
                                "UNION ALL SELECT pg_get_userbyid(nspowner) FROM pg_namespace "
                                f"WHERE nspname = '{schema}' "
                                f"UNION ALL SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'", db)
        assert set(owners.split()) == {pg_store["owner_role"]}
        options = psql(pg_store, "SELECT array_to_string(reloptions, ' ') FROM pg_class "
                                 f"WHERE oid = '{rel}'::regclass", db)
        assert "fillfactor=" in options and "autovacuum_vacuum_scale_factor=" in options, options
        indexes = psql(pg_store, "SELECT indexdef FROM pg_indexes "
                                 f"WHERE schemaname = '{schema}' AND tablename = '{table}'", db)
        assert any("COALESCE(modified_at, created_at)" in line for line in indexes.splitlines()), indexes
        assert any("(created_at)" in line for line in indexes.splitlines()), indexes


def test_session_data_is_binary_safe(pg_store: Store) -> None:
    """PHP's serialize() writes NUL bytes (private/protected properties): every byte value survives, 1 MB too."""
    pg_store = primary_of(pg_store)
    every_byte = bytes(range(256)) * 4
    serialized = b'user|O:4:"User":2:{s:8:"\x00User\x00id";i:7;s:7:"\x00*\x00role";s:5:"admin";}'
    big = bytes(range(256)) * 4096  # 1 MiB
    for app in apps_of(pg_store):
        keys = [sid() for _ in range(3)]
        with connect(pg_store, app=app, autocommit=True) as conn:
            table = table_of(pg_store, app)
            try:
                for key, data in zip(keys, (every_byte, serialized, big), strict=True):
                    conn.execute(sql.SQL("INSERT INTO {} (session_id, data, created_at) VALUES (%s, %s, %s)")
                                 .format(table), (key, data, int(time.time())))
                    row = conn.execute(sql.SQL("SELECT data FROM {} WHERE session_id = %s").format(table),
                                       (key,)).fetchone()
                    assert row is not None and bytes(row[0]) == data, (app["name"], len(data))
            finally:
                conn.execute(sql.SQL("DELETE FROM {} WHERE session_id = ANY(%s)").format(table), (keys,))


def test_expiry_scans_use_the_indexes(pg_store: Store) -> None:
    db, schema, table = pg_store["database"], pg_store["schema"], pg_store["table"]
    plan = psql(pg_store, "SET enable_seqscan = off; EXPLAIN SELECT session_id FROM "
                          f"{schema}.{table} WHERE COALESCE(modified_at, created_at) < 1 "
                          "ORDER BY COALESCE(modified_at, created_at) LIMIT 1000", db)
    assert "expiry_idx" in plan, plan
    plan = psql(pg_store, "SET enable_seqscan = off; EXPLAIN SELECT session_id FROM "
                          f"{schema}.{table} WHERE created_at < 1 ORDER BY created_at LIMIT 1000", db)
    assert "created_idx" in plan, plan


# --- server settings and pg_hba --------------------------------------------------------------

def test_server_settings(pg_store: Store) -> None:
    names = ("ssl", "ssl_min_protocol_version", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_ecdh_curve",
             "password_encryption", "authentication_timeout", "listen_addresses", "logging_collector",
             "log_connections", "log_disconnections", "log_line_prefix", "log_file_mode", "log_hostname")
    rows = psql(pg_store, "SELECT name || '=' || setting FROM pg_settings WHERE name IN ("
                + ", ".join(f"'{n}'" for n in names) + ")")
    cfg = dict(line.split("=", 1) for line in rows.splitlines())
    assert cfg["ssl"] == "on"
    assert cfg["ssl_min_protocol_version"] == pg_store["ssl_min_protocol_version"]
    assert cfg["ssl_ciphers"] == pg_store["ssl_ciphers"]
    assert cfg["ssl_prefer_server_ciphers"] == "off"
    assert cfg["ssl_ecdh_curve"] == pg_store["ssl_ecdh_curve"]
    assert cfg["password_encryption"] == "scram-sha-256"
    assert 0 < int(cfg["authentication_timeout"]) <= 60
    assert cfg["listen_addresses"].split(",") == pg_store["listen_addresses"]
    assert cfg["logging_collector"] == cfg["log_connections"] == cfg["log_disconnections"] == "on"
    for escape in ("%u", "%d", "%h"):
        assert escape in cfg["log_line_prefix"]
    assert re.search("%[mtn]", cfg["log_line_prefix"])
    assert cfg["log_file_mode"] == "0600"
    if int(pg_store["version"]) >= 17:
        assert psql(pg_store, "SHOW allow_alter_system") == "off"


def test_no_setting_is_overridden_outside_postgresql_conf(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT DISTINCT sourcefile FROM pg_file_settings")
    assert rows.split() == [f"{pg_store['config_dir']}/postgresql.conf"]


def test_pg_hba_holds_only_local_peer_and_hostssl_scram(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT type || ' ' || array_to_string(database, ',') || ' ' || "
                          "array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || "
                          "coalesce(netmask, '-') || ' ' || auth_method || ' ' || "
                          "coalesce(array_to_string(options, ','), '') || ' ' || coalesce(error, '') "
                          "FROM pg_hba_file_rules ORDER BY line_number")
    lines = [line.split(" ") for line in rows.splitlines()]
    assert lines, "pg_hba.conf is empty"
    local = [line for line in lines if line[0] == "local"]
    # HA: replication and rewind lines for each member's address (TLS + SCRAM, checked below).
    members = [line for line in lines if line[0] == "hostssl" and line[1] in ("replication", "postgres")]
    if is_ha(pg_store):
        assert {(m[1], m[2], m[5]) for m in members} == {
            ("replication", pg_store["replication_role"], "scram-sha-256"),
            ("postgres", pg_store["rewind_role"], "scram-sha-256")}, rows
        assert all(m[4] in ("255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") for m in members), rows
        assert len(members) == 2 * len(members_of(pg_store)), rows
    else:
        assert members == [], rows
    hostssl = [line for line in lines if line[0] == "hostssl" and line not in members]
    assert len(local) + len(hostssl) + len(members) == len(lines), rows

    assert all(line[5] == "peer" for line in local), rows
    assert {(line[1], line[2]) for line in local} == {("all", "postgres"), (pg_store["database"], pg_store["gc_role"])}
    assert len(hostssl) == len(pg_store["app_cidrs"]), rows
    # Both login roles of every app (they take turns at each credential rotation).
    app_roles = sorted(r for a in apps_of(pg_store) for r in a.get("login_roles", [a["name"]]))
    for line in hostssl:
        assert (line[1], sorted(line[2].split(",")), line[5]) == (pg_store["database"], app_roles,
                                                                   "scram-sha-256"), rows
        if needs_cert(pg_store):
            assert f"clientcert={pg_store['clientcert']}" in line[6], rows
    assert all(line[7] == "" for line in lines), rows  # no parse errors
    text = host_for(pg_store["name"]).file(f"{pg_store['config_dir']}/pg_hba.conf").content_string
    types = [row.split()[0] for row in text.splitlines() if row.strip() and not row.lstrip().startswith("#")]
    assert set(types) <= {"local", "hostssl"}, types


def test_connections_are_logged(pg_store: Store) -> None:
    marker = "verify-" + uuid.uuid4().hex[:8]
    connect(pg_store, application_name=marker).close()
    host = host_for(pg_store["name"])
    deadline = time.monotonic() + 10
    while True:
        found = host.run("grep -rhF -- %s %s", marker, pg_store["log_directory"])
        if "connection authorized" in found.stdout and "disconnection" in found.stdout:
            break
        assert time.monotonic() < deadline, found.stdout
        time.sleep(0.5)
    assert f"user={pg_store['app_role']}" in found.stdout


# --- files ------------------------------------------------------------------------------------

def test_file_owners_and_modes(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    expected = {
        pg_store["config_dir"]: 0o700,
        # HA: Patroni writes it (umask 0077): 0600.
        f"{pg_store['config_dir']}/postgresql.conf": 0o600 if is_ha(pg_store) else 0o640,
        f"{pg_store['config_dir']}/pg_hba.conf": 0o600,
        pg_store["data_dir"]: 0o700,
        pg_store["log_directory"]: 0o700,
        pg_store["tls_key"]: 0o600,
    }
    for path, mode in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == ("postgres", "postgres", mode), path


def test_log_files_are_private(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    loose = host.check_output("find %s -type f -perm /g=rwx,o=rwx", pg_store["log_directory"])
    assert loose.strip() == ""


def test_no_plaintext_password_on_the_host(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    for app in apps_of(pg_store):
        hits = files_containing(host, app["password"], ["/etc", "/var/log/postgresql", pg_store["log_directory"]])
        assert hits == [], (app["name"], hits)


# --- nothing of a session in the server log -------------------------------------------------------

def _log_lines(store: Store, needle: str) -> str:
    """Server log lines holding ``needle`` (not a secret: a marker of this test)."""
    return str(host_for(store["name"]).run("grep -rhF -- %s %s", needle, store["log_directory"]).stdout)


def test_log_settings_keep_sessions_out(pg_store: Store) -> None:
    rows = psql(pg_store, "SELECT name || '=' || setting FROM pg_settings WHERE name IN "
                          "('log_parameter_max_length', 'log_parameter_max_length_on_error', 'log_statement', "
                          "'log_min_duration_statement', 'log_min_duration_sample', 'log_duration')")
    cfg = dict(line.split("=", 1) for line in rows.splitlines())
    assert cfg == {"log_parameter_max_length": "0", "log_parameter_max_length_on_error": "0",
                   "log_statement": cfg["log_statement"], "log_min_duration_statement": "-1",
                   "log_min_duration_sample": "-1", "log_duration": "off"}, cfg
    assert cfg["log_statement"] in ("none", "ddl")
    for app in apps_of(pg_store):
        with connect(pg_store, app=app) as conn:
            shown = {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                     for name in ("log_min_error_statement", "log_error_verbosity")}
        assert shown == {"log_min_error_statement": ("panic",), "log_error_verbosity": ("terse",)}, app["name"]


def test_failing_statements_leave_no_session_id_in_the_log(pg_store: Store) -> None:
    """A duplicate key, a statement timeout and a cast error as the app role, each carrying a marker
    session id (as a bind parameter and inlined in the SQL text, as emulated prepares would send it):
    the server logs the errors, never the id."""
    pg_store = primary_of(pg_store)
    app = apps_of(pg_store)[0]
    marker = "verify-marker-" + uuid.uuid4().hex
    application = "verify-log-" + uuid.uuid4().hex[:8]
    table = table_of(pg_store, app)
    with connect(pg_store, app=app, autocommit=True, application_name=application) as conn:
        conn.execute(sql.SQL("INSERT INTO {} (session_id, data, created_at) VALUES (%s, %s, %s)").format(table),
                     (marker, b"x", int(time.time())))
        try:
            # Primary key violation: the key (the session id) is in the error's DETAIL.
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("INSERT INTO {} (session_id, data, created_at) VALUES (%s, %s, %s)")
                             .format(table), (marker, b"y", int(time.time())))
            # The same with the id inlined in the statement text.
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("INSERT INTO {} (session_id, data, created_at) VALUES ({}, 'y', 1)")
                             .format(table, sql.Literal(marker)))
            # A statement that times out, with the id as parameter and in the text.
            conn.execute("SET statement_timeout = '300ms'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute(sql.SQL("SELECT pg_sleep(2) FROM {} WHERE session_id = %s").format(table), (marker,))
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute(sql.SQL("SELECT pg_sleep(2) FROM {} WHERE session_id = {}")
                             .format(table, sql.Literal(marker)))
            conn.execute("RESET statement_timeout")
            # A bad parameter next to the id.
            with pytest.raises(psycopg.errors.InvalidTextRepresentation):
                conn.execute(sql.SQL("SELECT data FROM {} WHERE session_id = %s AND created_at = %s::text::bigint")
                             .format(table), (marker, "not-a-number"))
        finally:
            conn.execute(sql.SQL("DELETE FROM {} WHERE session_id = %s").format(table), (marker,))
    # Control: the errors themselves are logged (so the log is the right one and is flushed).
    deadline = time.monotonic() + 15
    while True:
        lines = _log_lines(pg_store, application)
        if lines.count("duplicate key value") >= 2 and lines.count("statement timeout") >= 2:
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.5)
    assert _log_lines(pg_store, marker) == "", "a session id reached the server log"


# --- garbage collection -------------------------------------------------------------------------

def test_gc_timer_is_active(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    timer = host.service(f"{pg_store['gc_unit']}.timer")
    assert "session" in pg_store["gc_unit"]
    assert timer.is_enabled and timer.is_running
    show = host.check_output(
        f"systemctl show -p User -p NoNewPrivileges -p ProtectSystem {pg_store['gc_unit']}.service")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props == {"User": pg_store["gc_role"], "NoNewPrivileges": "yes", "ProtectSystem": "strict"}


def test_gc_timer_removes_expired_rows_of_every_app_and_keeps_fresh_ones(pg_store: Store) -> None:
    """Idle rows and rows past the absolute timeout go, in every app's table; live rows stay."""
    pg_store = primary_of(pg_store)
    # Before the rows exist: a scheduled run may delete them before the run started below (the
    # scenarios fire the timer every 10 s), and its "deleted" line must be inside the window.
    since = psql(pg_store, "SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS')")
    now = int(time.time())
    apps = apps_of(pg_store)
    expired: dict[str, set[str]] = {}
    kept: dict[str, set[str]] = {}
    for app in apps:
        idle, absolute = int(app["idle_timeout"]), int(app["absolute_timeout"])
        idle_row, old_row, touched, fresh = sid(), sid(), sid(), sid()
        rows = [
            (idle_row, b"x", now - idle - 600, now - idle - 60),  # last written past the idle timeout
            (old_row, b"o", now - absolute - 60, now - 5),        # active, but past the absolute timeout
            (touched, b"y", now - idle - 600, now - 5),           # old, but written just now
            (fresh, b"z", now, None),                             # new, never updated
        ]
        with connect(pg_store, app=app, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {} (session_id, data, created_at, modified_at) "
                                    "VALUES (%s, %s, %s, %s)").format(table_of(pg_store, app)), rows)
        expired[app["name"]] = {idle_row, old_row}
        kept[app["name"]] = {touched, fresh}
    host = host_for(pg_store["name"])
    # The timer is armed; run its job now rather than wait for the schedule
    # (real inventories run it every few minutes).
    assert host.run("systemctl is-active %s.timer", pg_store["gc_unit"]).stdout.strip() == "active"
    host.check_output("systemctl start --no-block %s.service", pg_store["gc_unit"])
    try:
        for app in apps:
            mine = expired[app["name"]] | kept[app["name"]]
            deadline = time.monotonic() + 90
            with connect(pg_store, app=app, autocommit=True) as conn:
                while True:
                    left = {r[0] for r in conn.execute(
                        sql.SQL("SELECT session_id FROM {} WHERE session_id = ANY(%s)")
                        .format(table_of(pg_store, app)), (list(mine),))}
                    if not left & expired[app["name"]]:
                        break
                    assert time.monotonic() < deadline, f"the GC left expired rows of {app['name']}: {left}"
                    time.sleep(2)
            assert left == kept[app["name"]], app["name"]
    finally:
        for app in apps:
            with connect(pg_store, app=app, autocommit=True) as conn:
                conn.execute(sql.SQL("DELETE FROM {} WHERE session_id = ANY(%s)").format(table_of(pg_store, app)),
                             (list(expired[app["name"]] | kept[app["name"]]),))
    # The job logs after its commit: the line may trail the rows' disappearance by a moment.
    wanted = [rf"deleted [1-9]\d* session row.* from {pg_store['schema']}\.{app['table']} " for app in apps]
    deadline = time.monotonic() + 30
    while True:
        journal = host.check_output("journalctl -q -o cat --since %s -u %s", since, f"{pg_store['gc_unit']}.service")
        if all(re.search(w, journal) for w in wanted) or time.monotonic() > deadline:
            break
        time.sleep(1)
    for pattern in wanted:
        assert re.search(pattern, journal), journal


# --- durability -----------------------------------------------------------------------------------

def test_restart_keeps_committed_sessions(pg_store: Store) -> None:
    if is_ha(pg_store):
        pytest.skip("HA member: restarting Patroni hands the primary over; test_postgresql_ha.py proves "
                    "durability across a failover")
    key = sid()
    with connect(pg_store, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{pg_store["table"]}" (session_id, data, created_at) VALUES (%s, %s, %s)',
                     (key, b'user|s:5:"alice";', int(time.time())))
    host_for(pg_store["name"]).check_output(f"systemctl restart {pg_store['service']}")
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = connect(pg_store, autocommit=True)
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "server did not come back"
            time.sleep(1)
    with conn:
        row = conn.execute(f'SELECT data FROM "{pg_store["table"]}" WHERE session_id = %s', (key,)).fetchone()
        assert row == (b'user|s:5:"alice";',)
        conn.execute(f'DELETE FROM "{pg_store["table"]}" WHERE session_id = %s', (key,))


# --- secrets in Ansible output ------------------------------------------------------------------

def test_no_password_in_ansible_output(pg_store: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "postgresql_session_store" in ansible_log, "log does not hold the converge"
    for app in apps_of(pg_store):
        assert app["password"] not in ansible_log, app["name"]
