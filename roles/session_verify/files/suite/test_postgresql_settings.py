"""PostgreSQL session stores: the server's settings and pg_hba.

TLS and SCRAM settings as the inventory asks, no override outside
postgresql.conf, pg_hba holding only local peer and hostssl SCRAM lines (and
an HA cluster's replication lines), connections logged.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import re
import time
import uuid

from conftest import host_for
from pg_client import Store, apps_of, connect, is_ha, members_of, metrics_roles, needs_cert, psql

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
    # Metrics on: the exporter's role from the address it dials (its own host) only; in an HA cluster
    # from each member's address (one pg_hba for the cluster, each member's exporter dials its own).
    monitor = [line for line in lines if line[0] == "hostssl" and line[2] in metrics_roles(pg_store)]
    if metrics_roles(pg_store):
        sources = {m["ha_address"] for m in members_of(pg_store)} if is_ha(pg_store) else set()
        assert sorted((m[1], m[3], m[4], m[5]) for m in monitor) == sorted(
            (pg_store["database"], address, "255.255.255.255", "scram-sha-256")
            for address in sources | {pg_store["metrics_dial"]}), rows
    else:
        assert monitor == [], rows
    hostssl = [line for line in lines if line[0] == "hostssl" and line not in members and line not in monitor]
    assert len(local) + len(hostssl) + len(members) + len(monitor) == len(lines), rows

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
