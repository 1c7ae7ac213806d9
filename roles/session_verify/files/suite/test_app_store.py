"""PHP session apps: the session lives in the store, with the inventory's lifetime.

Through each app's live probe, then in the store itself: Redis as admin
through its published port, PostgreSQL as the application role with
verify-full, the files directory over the inventory connection; and the
store connections are reused across requests.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from app_client import (
    App,
    as_text,
    needs_probe,
    new_session,
    pg_connect,
    pg_row,
    probe_state,
    redis_admin,
    redis_prefix,
    reply,
    request,
    session_cookie,
    store_of,
    stored,
)
from conftest import host_for

# --- the session lives in the store ----------------------------------------------------------

def test_count_round_trips_through_the_store(php_app: App, client_cert: tuple[str, str] | None) -> None:
    needs_probe(php_app)
    sid = new_session(php_app)
    response = request(php_app, "GET", "/probe/session", sid)
    assert reply(php_app, response) == {"id": sid, "count": 2}
    assert session_cookie(php_app, response) is None, "a resumed session must not get a new cookie"
    data = stored(php_app, sid, client_cert)
    assert data is not None and probe_state(php_app, data) == {"count": 2}, data


def test_redis_key_carries_the_idle_timeout(php_app: App, client_cert: tuple[str, str] | None) -> None:
    if php_app["store"] != "redis":
        pytest.skip("Redis apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    store = store_of(php_app)
    ttl = redis_admin(store, client_cert).ttl(redis_prefix(php_app, store) + sid)
    idle = int(php_app["idle_timeout"])
    assert idle - 3 <= ttl <= idle, (ttl, idle)


def test_postgresql_row_is_written_with_timestamps(php_app: App) -> None:
    if php_app["store"] != "postgresql":
        pytest.skip("PostgreSQL apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    row = pg_row(store_of(php_app), sid)
    assert row is not None
    data, created_at, modified_at = row
    assert probe_state(php_app, as_text(data)) == {"count": 1}
    assert abs(int(created_at) - time.time()) < 60 and modified_at is None
    request(php_app, "GET", "/probe/session", sid)
    row = pg_row(store_of(php_app), sid)
    assert row is not None and row[2] is not None and int(row[2]) >= int(created_at)
    assert int(php_app["idle_timeout"]) <= int(store_of(php_app)["idle_timeout"])


def test_files_store_is_private_to_the_pool(php_app: App) -> None:
    if php_app["store"] != "files":
        pytest.skip("files apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    host = host_for(php_app["name"])
    directory = host.file(php_app["files_dir"])
    assert (directory.user, directory.group, directory.mode) == (php_app["user"], php_app["group"], 0o700)
    session = host.file(f"{php_app['files_dir']}/sess_{sid}")
    assert session.exists and session.user == php_app["user"] and session.mode == 0o600


def _redis_connections_received(admin: redis.Redis) -> int:
    """Connections the Redis store accepted so far (one admin connection, opened before the first count)."""
    return int(admin.info("stats")["total_connections_received"])


def _pg_app_backends(app: App, store: dict[str, Any]) -> set[tuple[int, str]]:
    """(pid, start time) of the app's open PostgreSQL connections on the store (the primary of an HA cluster)."""
    with pg_connect(store) as conn:
        rows = conn.execute("SELECT pid, backend_start FROM pg_stat_activity "
                            "WHERE usename = current_user AND application_name = %s", (app["app"],)).fetchall()
    return {(int(pid), str(started)) for pid, started in rows}


def test_store_connections_are_reused(php_app: App, client_cert: tuple[str, str] | None) -> None:
    """Persistent connections: a burst of requests opens at most one connection per FPM worker.

    A connection per request costs a TLS handshake and authentication each
    time (docs/performance.md); phpredis silently reconnects when its
    liveness check is refused by the ACL, which only this test notices.
    """
    if php_app["store"] not in ("redis", "postgresql"):
        pytest.skip("store apps only")
    needs_probe(php_app)
    if not php_app["persistent"]:
        pytest.skip("persistent connections are off for this store")
    sid = new_session(php_app)
    children = int(php_app["max_children"])
    burst = 4 * children
    # The member that takes writes now (an HA store's first host may be a replica: no app connects to it,
    # and it would pass without checking anything), found once, before the count starts.
    store = store_of(php_app)
    if php_app["store"] == "redis":
        with redis_admin(store, client_cert) as admin:
            before = _redis_connections_received(admin)
            for _ in range(burst):
                request(php_app, "GET", "/probe/session", sid)
            opened = _redis_connections_received(admin) - before
        assert opened <= children, f"{opened} connections for {burst} requests on {store['name']}"
        return
    backends = _pg_app_backends(php_app, store)
    assert backends, f"no persistent connection of the app is open on {store['name']} after a request"
    for _ in range(burst):
        request(php_app, "GET", "/probe/session", sid)
    after = _pg_app_backends(php_app, store)
    new = after - backends
    assert len(new) < children and len(after) <= children, \
        f"{len(new)} new connections for {burst} requests: {sorted(after)}"



def test_redis_lock_serialises_one_session_and_is_released(php_app: App,
                                                           client_cert: tuple[str, str] | None) -> None:
    """Through the app: two concurrent requests of one session serialise on the store's lock, and no lock
    key is left after them.

    A slow request (read, 1.2 s, write) holds the session's lock; a second request of the same session,
    sent while the lock key exists, must wait for it and read the slow one's write (count 3, not a lost
    update at 2). The lock is released by EVALSHA of the preloaded script (the tenants may not EVAL): if
    that were refused, the lock key would stay until it expires.
    """
    if php_app["store"] != "redis":
        pytest.skip("Redis apps only")
    needs_probe(php_app)
    store = store_of(php_app)
    user = next(u for u in store["app_users"] if u["name"] == php_app["store_user"])
    if not user.get("locking", True):
        pytest.skip(f"locking is off for {user['name']}")
    sid = new_session(php_app)
    prefix = redis_prefix(php_app, store) + sid
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        slow["body"] = reply(php_app, request(php_app, "GET", "/probe/session?sleep_ms=1200", sid))
        slow["done"] = time.monotonic()

    with redis_admin(store, client_cert) as admin:
        thread = threading.Thread(target=slow_request, daemon=True)
        thread.start()
        deadline, locks = time.monotonic() + 5, list[str]()
        while not locks and time.monotonic() < deadline and thread.is_alive():
            locks = [k for k in admin.scan_iter(match=prefix + "*", count=1000) if k != prefix]
            time.sleep(0.02)
        assert locks, f"no lock key under {prefix}* while a request of the session ran"
        second = reply(php_app, request(php_app, "GET", "/probe/session", sid))
        second_done = time.monotonic()
        thread.join(timeout=30)
        assert slow.get("body") == {"id": sid, "count": 2}, slow
        assert second == {"id": sid, "count": 3}, \
            f"the second request did not wait for the first one's lock (a lost update): {second}"
        assert second_done >= slow["done"] - 0.05, "the second request ended before the one holding the lock"
        left = [k for k in admin.scan_iter(match=prefix + "*", count=1000) if k != prefix]
        assert not left, f"lock keys left after both requests (not released, they wait for expiry): {left}"
