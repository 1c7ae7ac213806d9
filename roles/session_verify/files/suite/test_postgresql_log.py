"""PostgreSQL session stores: nothing of a session in the server log.

The log settings keep statements and parameters out; failing statements
carrying a marker session id (bind parameter and inlined) are logged
without it.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from conftest import host_for
from pg_client import Store, apps_of, connect, primary_of, psql, table_of
from psycopg import sql

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
