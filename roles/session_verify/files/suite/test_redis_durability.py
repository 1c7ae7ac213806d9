"""Redis/Valkey session stores: sessions survive a restart and a crash, from a client's side."""

from __future__ import annotations

import time

import pytest
import redis
from conftest import host_for
from redis_client import Store, app_user, connect, key, primary_of, rejoined


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_sessions_survive(redis_store: Store, client_cert: tuple[str, str] | None, how: str) -> None:
    user = app_user(redis_store)
    # Written on the primary (this node itself unless it is an HA replica).
    app = connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])
    sid = key(redis_store)
    app.setex(sid, 1800, "user|s:5:\"alice\";")
    time.sleep(2)  # appendfsync everysec (and replication): written 2 s before the restart
    host = host_for(redis_store["name"])
    if how == "restart":
        host.check_output(f"systemctl restart {redis_store['service']}")
    else:  # a crash: no shutdown save, only the AOF
        host.check_output(f"systemctl kill -s KILL {redis_store['service']}")
    # An HA node keeps sessions as a member of its group: back as the primary
    # or as a synced replica (a replica's own AOF is not the guarantee).
    rejoined(redis_store, client_cert)
    app = connect(redis_store, client_cert, user["name"], user["password"])
    deadline = time.monotonic() + 30
    while True:
        try:
            value = app.get(sid)
            break
        except (redis.ConnectionError, redis.BusyLoadingError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert value == "user|s:5:\"alice\";"
    # phpredis' lock release script is back in the restarted node's script cache (the unit loads it after
    # every start; a rejoined replica keeps it through its resync).
    admin = connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"])
    assert admin.script_exists(redis_store["lock_release_sha"]) == [True]
    ttl = connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"]).ttl(sid)
    assert 1700 < ttl <= 1800
