"""Redis/Valkey HA groups (replication + Sentinel): the suite's clients of a group's nodes and Sentinels.

Verifying TLS connections to a node's server and to its Sentinel, and what a
group agrees on (the one primary every Sentinel names). The test_redis_ha_*
files run on every node (``ha_node``) or once per group (``ha_group``), as
conftest parametrizes them.
"""

from __future__ import annotations

import time
from typing import Any

import conftest
import redis
from conftest import no_retry

Store = dict[str, Any]
App = dict[str, Any]


def tls_kwargs(store: Store, client_cert: tuple[str, str] | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ssl": True, "ssl_ca_certs": store["ca_cert_local"], "ssl_check_hostname": True,
                              "ssl_cert_reqs": "required"}
    if str(store["tls_auth_clients"]) == "yes":
        assert client_cert, "mTLS store but no client certificate for the suite"
        kwargs.update(ssl_certfile=client_cert[0], ssl_keyfile=client_cert[1])
    return kwargs


def node(store: Store, client_cert: tuple[str, str] | None, user: str | None = None,
         password: str | None = None) -> redis.Redis:
    """A verifying TLS connection to a node's server."""
    return redis.Redis(host=store["host"], port=int(store["port"]), username=user, password=password,
                       socket_timeout=5, socket_connect_timeout=5, decode_responses=True, protocol=2,
                       retry=no_retry(), **tls_kwargs(store, client_cert))


def sentinel(store: Store, client_cert: tuple[str, str] | None, user: str | None = None,
             password: str | None = None) -> redis.Redis:
    """A verifying TLS connection to a node's Sentinel."""
    return redis.Redis(host=store["host"], port=int(store["sentinel_client_port"]), username=user,
                       password=password, socket_timeout=5, socket_connect_timeout=5, decode_responses=True,
                       protocol=2, retry=no_retry(), **tls_kwargs(store, client_cert))


def as_dict(reply: Any) -> dict[str, Any]:
    """A RESP2 flat list of pairs (or a reply redis-py already made a dict) as a dict."""
    if isinstance(reply, dict):
        return {str(k): v for k, v in reply.items()}
    return dict(zip(reply[::2], reply[1::2], strict=True))


def admin(store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    return node(store, client_cert, store["admin_user"], store["admin_password"])


def sentinel_admin(store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    return sentinel(store, client_cert, store["admin_user"], store["admin_password"])


def named_primary(store: Store, client_cert: tuple[str, str] | None) -> str | None:
    """The node (announced name) this Sentinel names as primary; None when it cannot answer."""
    try:
        answer = sentinel_admin(store, client_cert).execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", store["ha_name"])
    except (redis.ConnectionError, redis.TimeoutError):
        return None
    return str(answer[0]) if answer else None


def by_announce(group: list[Store], name: str) -> Store:
    return next(s for s in group if s["announce_host"] == name)


def role(store: Store, client_cert: tuple[str, str] | None) -> list[Any]:
    return list(admin(store, client_cert).execute_command("ROLE"))


def apps_of(group: list[Store]) -> list[App]:
    """Apps with the live probe whose store is this group."""
    name = group[0]["ha_group"]
    return [a for a in conftest.CONTEXT.get("apps", []) if a.get("store_group") == name and a.get("probe")]


def wait_for(what: str, check: Any, timeout: float) -> float:
    """Poll check() until it is truthy; the seconds it took."""
    start = time.monotonic()
    last: Any = None
    while time.monotonic() - start < timeout:
        try:
            last = check()
            if last:
                return time.monotonic() - start
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def settled(group: list[Store], client_cert: tuple[str, str] | None) -> Store:
    """Wait until every Sentinel names one primary that has every other node attached; that primary."""
    def agreed() -> Store | None:
        names = {named_primary(s, client_cert) for s in group}
        if len(names) != 1 or None in names:
            return None
        primary = by_announce(group, str(names.pop()))
        attached = role(primary, client_cert)
        return primary if role(primary, client_cert)[0] == "master" and len(attached[2]) == len(group) - 1 else None
    wait_for("the group settles on one primary with every replica attached", agreed, 90)
    result = agreed()
    assert result
    return result


def sentinel_replicas(store: Store, client_cert: tuple[str, str] | None) -> set[tuple[str, int]]:
    """The replicas (address, port) this Sentinel lists for its group, whatever their state."""
    replies = sentinel_admin(store, client_cert).execute_command("SENTINEL", "REPLICAS", store["ha_name"])
    return {(str(r["ip"]), int(r["port"])) for r in map(as_dict, replies)}


def forget_stale_replicas(group: list[Store], client_cert: tuple[str, str] | None) -> list[str]:
    """SENTINEL RESET on each Sentinel that lists a replica which is no node of the group (a scratch
    replica a test ran, a replaced host's old address): Sentinels never drop a replica they once saw.
    One Sentinel at a time, each back to the group's nodes and peers before the next, so the quorum is
    never short. The Sentinels it reset."""
    members = {(s["announce_host"], int(s["tls_port"])) for s in group}
    reset: list[str] = []
    for store in group:
        if sentinel_replicas(store, client_cert) <= members:
            continue
        conn = sentinel_admin(store, client_cert)
        conn.execute_command("SENTINEL", "RESET", store["ha_name"])
        reset.append(store["name"])

        def rediscovered(store: Store = store) -> bool:
            peers = sentinel_admin(store, client_cert).execute_command("SENTINEL", "SENTINELS", store["ha_name"])
            return sentinel_replicas(store, client_cert) <= members and \
                len(sentinel_replicas(store, client_cert)) == len(group) - 1 and len(peers) == len(group) - 1
        wait_for(f"{store['name']}'s Sentinel rediscovers its group after RESET", rediscovered, 90)
    return reset

