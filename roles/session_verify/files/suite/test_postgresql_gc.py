"""PostgreSQL session stores: the garbage collection timer.

A sandboxed timer job as the GC role removes idle and over-age rows of every
app's table and keeps live ones, and logs what it deleted.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import re
import time

from conftest import host_for
from pg_client import Store, apps_of, connect, primary_of, psql, sid, table_of
from psycopg import sql

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
