"""The suite's client of the PostgreSQL session stores (the test_postgresql_* files and the day-2 tests).

psycopg 3 through the published port with sslmode=verify-full, like an app
host; SQL as the postgres superuser on the host (peer auth over the local
socket); PostgreSQL's SSLRequest and a TLS handshake by hand; for HA stores
(one entry per member) the member that takes writes now.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import CONTEXT, PG_HA_STORES, host_for
from psycopg import sql
from tlsprobe import Handshake

Store = dict[str, Any]

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


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
        # libpq sends no certificate when the file is missing, and the server
        # then refuses with "requires a valid client certificate": name the
        # missing file instead (playbooks/verify_clients.yml issues them).
        for path in (who["client_cert_local"], who["client_key_local"]):
            assert Path(path).is_file(), \
                f"the suite's client certificate {path} for role {params['user']} was never issued"
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
    errors: dict[str, str] = {}
    while True:
        for member in members_of(store):
            try:
                if not in_recovery(member):
                    return member
            except Exception as exc:  # a member that is down is not the primary
                errors[member["name"]] = f"{type(exc).__name__}: {str(exc)[-300:]}"
                continue
        assert time.monotonic() < deadline, \
            f"no primary among {[m['name'] for m in members_of(store)]} (last errors: {errors})"
        time.sleep(1)


def writer_of(store: Store, timeout: float = 60) -> Store:
    """The member that takes writes now, found as a client finds it (the store itself for a single node).

    libpq with every member's published address and
    target_session_attrs=read-write: the member it lands on is the primary,
    whichever its place in the inventory.
    """
    if not is_ha(store):
        return store
    members = members_of(store)
    hosts = ",".join(str(m["host"]) for m in members)
    ports = ",".join(str(m["port"]) for m in members)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(store, host=hosts, port=ports, target_session_attrs="read-write", connect_timeout=5) as conn:
                landed = (str(conn.info.host), int(conn.info.port))
            return next(m for m in members if (str(m["host"]), int(m["port"])) == landed)
        except psycopg.OperationalError as exc:
            assert time.monotonic() < deadline, f"no member of {[m['name'] for m in members]} takes writes: {exc}"
            time.sleep(1)


def ha_login_roles(store: Store) -> list[str]:
    """Roles an HA cluster adds: replication and rewind (both with a password)."""
    return [store["replication_role"], store["rewind_role"]] if is_ha(store) else []


def metrics_roles(store: Store) -> list[str]:
    """The exporter's login role when metrics are on (postgresql_session_store_metrics_enabled)."""
    return [store["metrics_role"]] if store.get("metrics_enabled") else []


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


# --- HA clusters (the test_postgresql_ha_* files) ------------------------------------

# Each of those files: pytestmark = NEEDS_CLUSTER (and the cluster fixture of conftest).
NEEDS_CLUSTER = pytest.mark.skipif(not PG_HA_STORES, reason="no PostgreSQL HA cluster in the inventory")


def ha_app() -> dict[str, Any]:
    """The app the HA tests write through: the first PostgreSQL app of the context."""
    apps = [a for a in CONTEXT.get("apps", []) if a.get("store") == "postgresql"]
    assert apps, "no PostgreSQL app in the inventory: the failover test writes through an app"
    return dict(apps[0])
