"""PostgreSQL HA session stores (Patroni + etcd): topology and synchronous replication.

One primary with synchronous TLS + SCRAM streaming standbys, identical
configuration on every member, a replication role that can do nothing else
and needs TLS and its password, the GC doing nothing on a standby.

The single-node test_postgresql_* files already run every hardening
test on every member; these files add what only a cluster has. Refusals that
depend on the client's address are tried from another member, an address the
cluster does admit: the only thing missing is then the password, the TLS or
the certificate.
"""

from __future__ import annotations

import json
import os
from typing import Any

from conftest import host_for
from pg_client import NEEDS_CLUSTER, Store, in_recovery, primary_of, psql

pytestmark = NEEDS_CLUSTER


def standby_of(members: list[Store]) -> Store:
    primary = primary_of(members[0])
    return next(m for m in members if m["name"] != primary["name"])


def run_with_secret(host: Any, script: str, secret: str) -> dict[str, Any]:
    """Run a bash script on `host` that reads `secret` from stdin (never on a command line)."""
    os.environ["KIT_SUITE_SECRET"] = secret
    try:
        args = {"argv": ["bash", "-c", script],
                "stdin": "{{ lookup('ansible.builtin.env', 'KIT_SUITE_SECRET') }}"}
        return dict(host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True))
    finally:
        del os.environ["KIT_SUITE_SECRET"]


# --- topology and synchronous replication -------------------------------------------------

def test_one_primary_and_streaming_synchronous_standbys(cluster: list[Store]) -> None:
    assert len(cluster) >= 3
    roles = {m["name"]: in_recovery(m) for m in cluster}
    assert sorted(roles.values()) == [False] + [True] * (len(cluster) - 1), roles
    primary = primary_of(cluster[0])
    rows = psql(primary, "SELECT r.application_name || ' ' || r.state || ' ' || r.sync_state || ' ' || "
                         "r.usename || ' ' || s.ssl || ' ' || s.version FROM pg_stat_replication r "
                         "JOIN pg_stat_ssl s USING (pid) ORDER BY 1")
    lines = [line.split(" ") for line in rows.splitlines()]
    assert sorted(line[0] for line in lines) == sorted(m["name"] for m in cluster if m["name"] != primary["name"])
    for _name, state, _sync, user, ssl, version in lines:
        assert state == "streaming", rows
        assert user == primary["replication_role"], rows
        assert ssl in ("t", "true") and version in ("TLSv1.2", "TLSv1.3"), rows
    # Patroni 4 (Debian 13): quorum (ANY 1); Patroni 3.0 (Debian 12): one named sync standby.
    assert any(line[2] in ("sync", "quorum") for line in lines), rows
    assert psql(primary, "SHOW synchronous_commit") == "on"
    names = psql(primary, "SHOW synchronous_standby_names")
    assert names, "no synchronous standby: a commit would be acknowledged by the primary alone"
    slots = psql(primary, "SELECT slot_type || ' ' || active FROM pg_replication_slots")
    assert slots.split("\n") == ["physical true"] * (len(cluster) - 1), slots


def test_every_member_runs_the_same_configuration(cluster: list[Store]) -> None:
    """No drift by construction: the same settings and pg_hba rules on every member."""
    # A member's own address, and what Patroni sets by role: the primary names its synchronous
    # standbys, a standby its upstream (primary_conninfo, primary_slot_name, recovery_*).
    per_node = ("listen_addresses", "synchronous_standby_names")
    query = ("SELECT name || '=' || setting FROM pg_settings WHERE source = 'configuration file' "
             "AND name NOT IN (" + ", ".join(f"'{n}'" for n in per_node) + ") "
             "AND name NOT LIKE 'primary\\_%' AND name NOT LIKE 'recovery\\_%' ORDER BY 1")
    settings = {m["name"]: psql(m, query) for m in cluster}
    assert len(set(settings.values())) == 1, settings
    assert "password_encryption=scram-sha-256" in next(iter(settings.values()))
    hba = {m["name"]: psql(m, "SELECT type || ' ' || array_to_string(database, ',') || ' ' || "
                              "array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || auth_method "
                              "FROM pg_hba_file_rules ORDER BY line_number") for m in cluster}
    assert len(set(hba.values())) == 1, hba


def test_replication_role_can_do_nothing_else(cluster: list[Store]) -> None:
    primary = primary_of(cluster[0])
    role = primary["replication_role"]
    attrs = psql(primary, "SELECT concat(rolsuper::int, rolcreaterole::int, rolcreatedb::int, rolreplication::int, "
                          f"rolbypassrls::int, rolcanlogin::int) FROM pg_roles WHERE rolname = '{role}'")
    assert attrs == "000101"
    assert psql(primary, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                         f"WHERE r.rolname = '{role}'") == "0"
    assert psql(primary, f"SELECT has_database_privilege('{role}', '{primary['database']}', 'CONNECT')") == "f"
    verifier = psql(primary, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert verifier.startswith("SCRAM-SHA-256$"), "replication password is not a SCRAM verifier"


REPLICATION_SCRIPT = (
    "read -r PGPASSWORD; export PGPASSWORD; "
    "exec psql -XAtq 'host={host} port={port} user={user} dbname=replication replication=true "
    "sslmode={sslmode} sslrootcert={ca} connect_timeout=5' -c IDENTIFY_SYSTEM"
)


def _replicate(standby: Store, primary: Store, password: str, sslmode: str) -> dict[str, Any]:
    script = REPLICATION_SCRIPT.format(host=primary["ha_address"], port=primary["server_port"],
                                       user=primary["replication_role"], sslmode=sslmode,
                                       ca=primary["ca_cert"])
    return run_with_secret(host_for(standby["name"]), script, password)


def test_replication_needs_tls_and_the_password(cluster: list[Store]) -> None:
    primary = primary_of(cluster[0])
    standby = standby_of(cluster)
    good = _replicate(standby, primary, primary["replication_password"], "verify-full")
    assert good.get("rc") == 0, good.get("stderr")
    wrong = _replicate(standby, primary, primary["replication_password"] + "x", "verify-full")
    assert wrong.get("rc") != 0 and "password authentication failed" in wrong.get("stderr", ""), wrong.get("stderr")
    plain = _replicate(standby, primary, primary["replication_password"], "disable")
    assert plain.get("rc") != 0 and "no encryption" in plain.get("stderr", ""), plain.get("stderr")


# --- the GC on a standby ------------------------------------------------------------------

def test_gc_on_a_standby_deletes_nothing_and_succeeds(cluster: list[Store]) -> None:
    standby = standby_of(cluster)
    host = host_for(standby["name"])
    since = host.check_output("date -u '+%Y-%m-%d %H:%M:%S'")
    unit = f"{standby['gc_unit']}.service"
    host.check_output("systemctl start %s", unit)
    assert host.run("systemctl show -p Result --value %s", unit).stdout.strip() == "success"
    journal = host.check_output("journalctl -q -o cat --since %s -u %s", since, unit)
    assert "standby (in recovery): nothing to delete" in journal, journal
    assert "deleted" not in journal, journal

