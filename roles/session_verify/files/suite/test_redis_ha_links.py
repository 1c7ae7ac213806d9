"""Redis/Valkey HA groups: every link is TLS, replication runs as its own user.

Nothing answers in plaintext (servers and Sentinels), the Sentinel listens on
its TLS port only, and a replica syncs only with the replication user's
password over TLS (a scratch replica without it is refused).
"""

from __future__ import annotations

import json
import os
import socket

import conftest
import pytest
import redis
from conftest import host_for
from redis_client import listening
from redis_ha_client import (
    Store,
    admin,
    as_dict,
    forget_stale_replicas,
    node,
    sentinel_admin,
    sentinel_replicas,
    settled,
)

# --- every link is TLS; nothing answers in plaintext ---------------------------------


def _plaintext_answer(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(b"PING\r\n")
        try:
            return raw.recv(64)
        except (TimeoutError, ConnectionResetError):
            return b""


@pytest.mark.parametrize("service", ["server", "sentinel"])
def test_plaintext_is_refused_on_every_port(ha_node: Store, service: str,
                                            client_cert: tuple[str, str] | None) -> None:
    port = int(ha_node["port"] if service == "server" else ha_node["sentinel_client_port"])
    assert b"PONG" not in _plaintext_answer(ha_node["host"], port)
    # Control: the same port answers over TLS.
    conn = admin(ha_node, client_cert) if service == "server" else sentinel_admin(ha_node, client_cert)
    assert conn.ping()


def test_only_the_sentinel_tls_port_listens(ha_node: Store) -> None:
    ports, _ = listening(ha_node["name"], ha_node["sentinel_service"], ha_node["user"])
    assert ports == {str(ha_node["sentinel_port"])}


def test_sentinel_settings(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    conn = sentinel_admin(ha_node, client_cert)
    # resolve-hostnames and announce-hostnames: the Sentinel names the primary by its announced name (the admin
    # may not read SENTINEL CONFIG: test_redis_ha_access).
    answer = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", ha_node["ha_name"])
    assert str(answer[0]) in {str(s["announce_host"]) for s in conftest.CONTEXT.get("redis", [])}
    info = as_dict(conn.execute_command("SENTINEL", "MASTER", ha_node["ha_name"]))
    assert str(info["quorum"]) == "2"
    assert str(info["num-other-sentinels"]) == "2"


def test_replication_runs_over_tls_as_the_replication_user(ha_group: list[Store],
                                                            client_cert: tuple[str, str] | None) -> None:
    primary = settled(ha_group, client_cert)
    conn = admin(primary, client_cert)
    assert conn.config_get("tls-replication") == {"tls-replication": "yes"}
    for store in ha_group:
        if store is primary:
            continue
        cfg = admin(store, client_cert).config_get("masteruser")
        assert cfg == {"masteruser": store["replication_user"]}
        info = admin(store, client_cert).info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
    # The replication user can do nothing but replicate.
    repl = node(primary, client_cert, primary["replication_user"], primary["replication_password"])
    for command in (("GET", "app1:sess:x"), ("INFO",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("SLAVEOF", "NO", "ONE")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            repl.execute_command(*command)
    assert repl.ping()


def _throwaway_replica(store: Store, primary: Store, password: str) -> str:
    """INFO replication of a scratch replica process (on `store`'s host, 10 s) pointed at the primary
    as the replication user with `password`. Its configuration (password included) goes in on stdin."""
    prefix = "valkey" if store["engine"] == "valkey" else "redis"
    tls = f"/etc/session-kit/tls/{store['engine']}"
    config = "\n".join([
        "port 0", "tls-port 16999", "bind 127.0.0.1", "tls-replication yes", "tls-auth-clients no",
        f"tls-cert-file {tls}.crt", f"tls-key-file {tls}.key", f"tls-client-cert-file {tls}-peer.crt",
        f"tls-client-key-file {tls}-peer.key", "tls-ca-cert-file /etc/session-kit/tls/ca-redis.crt",
        "dir /tmp/kit-throwaway-replica", "appendonly no", 'save ""', "daemonize no",
        f"replicaof {primary['announce_host']} {primary['tls_port']}",
        f"masteruser {store['replication_user']}", f"masterauth {password}",
        # Invisible to the Sentinels, never promoted.
        "replica-announced no", "replica-priority 0",
    ]) + "\n"
    # Polls for up to 8 s and stops as soon as the link is up (the refused case takes the whole 8 s);
    # the scratch server is stopped right after (timeout 12 bounds it in any case).
    script = (
        "set -u; exec 3<&0; rm -rf /tmp/kit-throwaway-replica; mkdir -m 0700 /tmp/kit-throwaway-replica; "
        f"timeout 12 {prefix}-server - <&3 >/tmp/kit-throwaway-replica.log 2>&1 & server=$!; "
        "for _ in $(seq 16); do sleep 0.5; "
        f"info=$({prefix}-cli --tls --cacert /etc/session-kit/tls/ca-redis.crt -h 127.0.0.1 -p 16999 INFO replication"
        " 2>/dev/null); case $info in *master_link_status:up*) break;; esac; done; "
        'printf "%s\\n" "$info"; kill "$server" 2>/dev/null; wait; '
        "rm -rf /tmp/kit-throwaway-replica /tmp/kit-throwaway-replica.log"
    )
    os.environ[conftest.SECRET_ENV] = config
    try:
        args = {"cmd": script, "executable": "/bin/bash",
                "stdin": "{{ lookup('ansible.builtin.env', '" + conftest.SECRET_ENV + "') }}"}
        result = host_for(store["name"]).ansible("ansible.builtin.shell", json.dumps(args), check=False,
                                                 become=True)
    finally:
        del os.environ[conftest.SECRET_ENV]
    return str(result.get("stdout", ""))


def test_replica_without_the_replication_password_cannot_sync(ha_group: list[Store],
                                                             client_cert: tuple[str, str] | None) -> None:
    primary = settled(ha_group, client_cert)
    other = next(s for s in ha_group if s is not primary)
    try:
        refused = _throwaway_replica(other, primary, "not-the-replication-password")
        assert "master_link_status:down" in refused, refused
        # Control: the same scratch replica with the right password syncs.
        synced = _throwaway_replica(other, primary, primary["replication_password"])
        assert "master_link_status:up" in synced, synced
    finally:
        # The primary announced the scratch replica to the Sentinels, which keep every replica they
        # saw: without this, the next suite run counts one replica too many.
        forget_stale_replicas(ha_group, client_cert)
    assert all(sentinel_replicas(s, client_cert) <= {(m["announce_host"], int(m["tls_port"])) for m in ha_group}
               for s in ha_group)


# --- writes wait for a replica -------------------------------------------------------


def test_write_safety_settings(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    cfg = admin(ha_node, client_cert).config_get("min-replicas-*")
    assert cfg["min-replicas-to-write"] == str(ha_node["min_replicas_to_write"])
    assert cfg["min-replicas-max-lag"] == str(ha_node["min_replicas_max_lag"])
