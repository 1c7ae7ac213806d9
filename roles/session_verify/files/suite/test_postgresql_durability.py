"""PostgreSQL session stores: committed sessions survive a restart.

(An HA member skips it: test_postgresql_ha_failover.py proves durability
across a failover.)

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import time

import psycopg
import pytest
from conftest import host_for
from pg_client import Store, connect, is_ha, sid

# --- durability -----------------------------------------------------------------------------------

def test_restart_keeps_committed_sessions(pg_store: Store) -> None:
    if is_ha(pg_store):
        pytest.skip("HA member: restarting Patroni hands the primary over; test_postgresql_ha_failover.py proves "
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
