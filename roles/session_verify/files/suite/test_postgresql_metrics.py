"""PostgreSQL metrics (postgresql_session_store_metrics_enabled): the exporter and its identity.

The exporter answers on its configured listener only and reports the server up: it connects with
sslmode=verify-full (hostssl only) as its own login role. That role reads the statistics views (the
control), is refused every session table (permission denied), and is admitted from its own host only (in an HA
cluster: from the members' addresses, the cluster's one pg_hba).
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import files_containing, host_for
from exporter import assert_listens_only_where_configured, scrape, with_metrics
from pg_client import Store, apps_of, connect, refused, table_of, writer_of

# Runs on the store host as root: a psql session with the exporter's own connection string (read from
# its root-only file; the password reaches psql through the environment, never a command line).
EXPORTER_PSQL = """
import os, shlex, subprocess, sys
text = open(sys.argv[1]).read()
dsn = [l.split("=", 1)[1].strip().strip('"') for l in text.splitlines() if l.startswith("DATA_SOURCE_NAME=")][0]
pairs = dict(p.split("=", 1) for p in shlex.split(dsn))
env = dict(os.environ, PGPASSWORD=pairs.pop("password"))
conninfo = " ".join(f"{k}={v}" for k, v in pairs.items())
r = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sys.argv[2]],
                   env=env, capture_output=True, text=True)
print(r.returncode); print(r.stdout.strip()); print(r.stderr.strip())
"""


@pytest.fixture
def metrics_store(pg_store: Store) -> Store:
    return with_metrics(pg_store, "postgresql_session_store_metrics_enabled")


def env_file(store: Store) -> str:
    return f"/etc/session-kit/secrets/{store['metrics_service']}.env"


def as_exporter(store: Store, query: str) -> tuple[int, str, str]:
    """Run `query` on the store host with the exporter's connection string: (rc, stdout, stderr)."""
    host = host_for(store["name"])
    out = host.run("python3 -c %s %s %s", EXPORTER_PSQL, env_file(store), query).stdout.split("\n", 2)
    return int(out[0]), out[1], out[2] if len(out) > 2 else ""


def test_exporter_reports_the_server_up_over_tls(metrics_store: Store) -> None:
    lines = scrape(metrics_store)
    assert any(line.startswith("pg_up") and line.endswith(" 1") for line in lines), \
        [line for line in lines if line.startswith("pg_up")]
    # The kit's queries (monitoring/session-kit.rules.yml reads them) answer.
    for metric in ("session_kit_pg_in_recovery", "session_kit_pg_max_connections", "session_kit_pg_role_connections"):
        assert any(line.startswith(metric) for line in lines), metric
    settings = str(host_for(metrics_store["name"]).file(env_file(metrics_store)).content_string)
    assert "sslmode=verify-full" in settings


def test_exporter_listens_where_configured_only(metrics_store: Store) -> None:
    assert_listens_only_where_configured(metrics_store)


def test_exporter_role_reads_statistics(metrics_store: Store) -> None:
    """The control: the exporter's own connection (TLS, verify-full) reads what pg_monitor grants."""
    rc, out, err = as_exporter(metrics_store, "SELECT ssl::int FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert (rc, out) == (0, "1"), err
    rc, out, err = as_exporter(metrics_store, "SELECT count(*) > 0 FROM pg_stat_activity WHERE usename IS NOT NULL")
    assert (rc, out) == (0, "t"), err


def test_exporter_role_cannot_read_a_session(metrics_store: Store) -> None:
    writer = writer_of(metrics_store)
    for app in apps_of(writer):
        with connect(writer, app=app) as conn:  # the control: the app reads its own table
            conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(table_of(writer, app))).fetchone()
        query = f"SELECT * FROM {writer['schema']}.{app['table']} LIMIT 1"
        rc, _, err = as_exporter(metrics_store, query)
        assert rc != 0 and "permission denied" in err, (rc, err)


def test_exporter_role_is_refused_from_elsewhere(metrics_store: Store) -> None:
    """Its only hostssl line is its own host's address: from the suite's side the server refuses it."""
    message = refused(metrics_store, user=metrics_store["metrics_role"], password=metrics_store["metrics_password"],
                      with_cert=False)
    assert "no pg_hba.conf entry" in message, message


def test_metrics_password_only_in_the_root_only_settings(metrics_store: Store) -> None:
    host = host_for(metrics_store["name"])
    assert files_containing(host, metrics_store["metrics_password"], ["/etc"]) == [env_file(metrics_store)]
    f = host.file(env_file(metrics_store))
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
