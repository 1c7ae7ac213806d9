"""Redis/Valkey clients of the suite (the test_redis_* files and the day-2 tests).

A verifying TLS connection like an app host opens it, the node of an HA
group that takes writes, and what the tests read on a store's host.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import conftest
import pytest
import redis
from conftest import host_for, no_retry

Store = dict[str, Any]


def needs_cert(store: Store) -> bool:
    return str(store["tls_auth_clients"]) == "yes"


def connect(store: Store, client_cert: tuple[str, str] | None, user: str | None = None,
            password: str | None = None, *, with_cert: bool | None = None) -> redis.Redis:
    """A verifying TLS connection to the store, like an app host opens it."""
    use_cert = needs_cert(store) if with_cert is None else with_cert
    kwargs: dict[str, Any] = {}
    if use_cert:
        assert client_cert, "mTLS store but no client certificate was issued for the suite"
        kwargs = {"ssl_certfile": client_cert[0], "ssl_keyfile": client_cert[1]}
    return redis.Redis(
        host=store["host"], port=int(store["port"]), username=user, password=password,
        ssl=True, ssl_ca_certs=store["ca_cert_local"], ssl_check_hostname=True,
        ssl_cert_reqs="required", socket_timeout=10, decode_responses=True,
        protocol=2,  # RESP2, as phpredis speaks it
        retry=no_retry(),
        **kwargs,
    )


def primary_of(store: Store, client_cert: tuple[str, str] | None) -> Store:
    """Where session writes go: the store itself, or its HA group's current
    primary (replicas are read-only; refusals are proven on every node).
    The primary is the node answering ROLE master with replicas attached."""
    if not store.get("ha"):
        return store
    # A primary restarted by a test resyncs its replicas first: wait for it.
    deadline = time.monotonic() + 60
    while True:
        for candidate in conftest.CONTEXT.get("redis", []):
            if candidate.get("ha_group") != store.get("ha_group"):
                continue
            try:
                role = connect(candidate, client_cert, candidate["admin_user"], candidate["admin_password"]) \
                    .execute_command("ROLE")
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                continue
            if role[0] == "master" and role[2]:
                return candidate
        if time.monotonic() > deadline:
            raise AssertionError(f"HA group {store.get('ha_group')}: no node is a primary with replicas")
        time.sleep(1)


def rejoined(store: Store, client_cert: tuple[str, str] | None) -> None:
    """An HA node back from a restart: wait until it is the primary with replicas or a synced replica
    (a restarted node comes up alone; Sentinel makes it a replica again and it resyncs)."""
    if not store.get("ha"):
        return
    deadline = time.monotonic() + 90
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            info = connect(store, client_cert, store["admin_user"], store["admin_password"]).info("replication")
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            info = {}
        if (info.get("role") == "master" and int(info.get("connected_slaves", 0)) > 0) or \
                (info.get("role") == "slave" and info.get("master_link_status") == "up"):
            return
        time.sleep(1)
    raise AssertionError(f"{store['name']} did not rejoin its HA group: {info}")


def app_user(store: Store) -> dict[str, str]:
    assert store["app_users"], "no app user configured"
    return dict(store["app_users"][0])


def key(store: Store, suffix: str = "") -> str:
    return f"{app_user(store)['key_prefix']}{uuid.uuid4().hex}{suffix}"


def listening(name: str, service: str, user: str) -> tuple[set[str], str]:
    """TCP ports the service's main process listens on, and its Unix sockets (ss lines)."""
    host = host_for(name)
    pid = host.check_output(f"systemctl show -p MainPID --value {service}").strip()
    assert pid not in ("", "0"), f"{service} is not running"
    # Run ss as the service user: it may read its own processes' sockets
    # (root in a container lacks CAP_SYS_PTRACE for that).
    tcp = host.check_output(f"runuser -u {user} -- ss -Htlnp")
    ports = {line.split()[3].rsplit(":", 1)[1] for line in tcp.splitlines() if f"pid={pid}," in line}
    return ports, host.check_output(f"runuser -u {user} -- ss -Hxlp | grep 'pid={pid},' || true")


def reload_secret_file(store: Store) -> str:
    return f"/etc/session-kit/secrets/{store['service']}-tls-reload"


def reload_secret(store: Store) -> str:
    """The TLS reload user's password, read on the host (it never leaves it otherwise)."""
    host = host_for(store["name"])
    secret = str(host.file(reload_secret_file(store)).content_string)
    assert len(secret) == 64, "the reload secret is missing or malformed"
    if secret not in conftest.SECRETS:  # failure reports redact it like the context's passwords
        conftest.SECRETS.append(secret)
    return secret



def users_with_locking(store: Store, locking: bool) -> list[dict[str, Any]]:
    users = [u for u in store["app_users"] if bool(u.get("locking", True)) == locking]
    if not users:
        pytest.skip(f"no app user with locking={locking} on this store")
    return users
