"""PostgreSQL session stores: the session tables' contract.

Columns, key, owners, storage options and expiry indexes of every app's
table; session data is binary safe (NUL bytes, every byte value, 1 MB).

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import time

from pg_client import Store, apps_of, connect, primary_of, psql, sid, table_of
from psycopg import sql

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
