"""Redis/Valkey HA groups (replication + Sentinel), proven from a client's side.

The single-node suite (test_redis.py) runs on every node of a group as it
is (writes go to the primary there). This file adds what a group has on top:
TLS and authentication on every link (Sentinels included), one primary that
every Sentinel names, the apps' local proxy routing to it, and a failover
under load: the primary's container is stopped while sessions are requested
through an app; the figures are printed and written to a JSON file.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import conftest
import pytest
import redis
from conftest import files_containing, host_for, no_retry
from test_app import new_session, reply, request
from test_redis import listening

Store = dict[str, Any]
App = dict[str, Any]

# Failover budget: seconds from the primary's stop until requests succeed again.
RECOVERY_TARGET_S = 15.0
# The load loop: at most this long, one request per PERIOD_S.
LOAD_WINDOW_S = 60.0
PERIOD_S = 0.2


def _groups() -> dict[str, list[Store]]:
    groups: dict[str, list[Store]] = defaultdict(list)
    for store in conftest.CONTEXT.get("redis", []):
        if store.get("ha"):
            groups[str(store["ha_group"])].append(store)
    return dict(groups)


GROUPS = _groups()
NODES = [store for members in GROUPS.values() for store in members]


def _node_id(store: Store) -> str:
    return str(store["name"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """ha_node: every node of every HA group; ha_group: each group (skip when none)."""
    for fixture, values, ids in (("ha_node", NODES, [_node_id(n) for n in NODES]),
                                 ("ha_group", list(GROUPS.values()), list(GROUPS))):
        if fixture in metafunc.fixturenames:
            if values:
                metafunc.parametrize(fixture, values, ids=ids, scope="module")
            else:
                metafunc.parametrize(fixture, [pytest.param(None, marks=pytest.mark.skip(
                    reason="no Redis HA group in the inventory (redis_session_store_ha)"))])


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
    settings = as_dict(conn.execute_command("SENTINEL", "CONFIG", "GET", "*"))
    assert settings.get("resolve-hostnames") == "yes"
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
        f"tls-cert-file {tls}.crt", f"tls-key-file {tls}.key", f"tls-client-cert-file {tls}.crt",
        f"tls-client-key-file {tls}.key", "tls-ca-cert-file /etc/session-kit/tls/ca.crt",
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
        f"info=$({prefix}-cli --tls --cacert /etc/session-kit/tls/ca.crt -h 127.0.0.1 -p 16999 INFO replication"
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
    refused = _throwaway_replica(other, primary, "not-the-replication-password")
    assert "master_link_status:down" in refused, refused
    # Control: the same scratch replica with the right password syncs.
    synced = _throwaway_replica(other, primary, primary["replication_password"])
    assert "master_link_status:up" in synced, synced


# --- Sentinel: authenticated, and only the admin may change it ----------------------


def test_sentinel_refuses_anonymous_clients(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):
        sentinel(ha_node, client_cert).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        sentinel(ha_node, client_cert, "default", "not-the-password").ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        sentinel(ha_node, client_cert, ha_node["admin_user"], "wrong-password-wrong").ping()


@pytest.mark.parametrize("command", [
    ("SENTINEL", "SET", "{name}", "quorum", "1"),
    ("SENTINEL", "SET", "{name}", "down-after-milliseconds", "100000"),
    ("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "no"),
    ("SENTINEL", "CONFIG", "GET", "*"),
    ("SENTINEL", "FAILOVER", "{name}"),
    ("SENTINEL", "REMOVE", "{name}"),
    ("SENTINEL", "RESET", "*"),
    ("CONFIG", "GET", "*"),
    ("ACL", "LIST"),
], ids=lambda c: " ".join(c[:3]))
def test_sentinel_refuses_changes_to_everyone_but_the_admin(ha_node: Store, client_cert: tuple[str, str] | None,
                                                            command: tuple[str, ...]) -> None:
    args = [a.format(name=ha_node["ha_name"]) for a in command]
    peer = sentinel(ha_node, client_cert, ha_node["sentinel_user"], ha_node["sentinel_password"])
    assert peer.ping()  # the Sentinel user logs in (the other Sentinels do) ...
    # ... but changes nothing (a command Sentinel mode lacks is refused as unknown).
    with pytest.raises(redis.exceptions.ResponseError, match="NOPERM|no permissions|unknown command"):
        peer.execute_command(*args)


def test_sentinel_admin_may_change_settings(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    conn = sentinel_admin(ha_node, client_cert)
    current = as_dict(conn.execute_command("SENTINEL", "MASTER", ha_node["ha_name"]))["down-after-milliseconds"]
    assert conn.execute_command("SENTINEL", "SET", ha_node["ha_name"], "down-after-milliseconds", current) in (
        True, "OK")


# --- ACLs: identical on every node; the check user is read-only replication info ------


def acl_rules(line: str) -> tuple[str, ...]:
    """An ACL LIST line as its user name and its sorted rules. Redis 7.0 (Debian 12) renders a user's
    command rules from its command bitmap in the order of the command table's hash (seeded per
    process), so two nodes with the same aclfile list the same rules in different orders; 7.2+ and
    Valkey keep the written order."""
    words = line.split()
    return (words[1], *sorted(words[2:]))


def test_acl_users_are_identical_on_every_node(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    # The TLS reload and credential rotation users' passwords are made on each host and never leave it:
    # their hashes differ.
    per_host = {ha_group[0]["reload_user"], ha_group[0]["rotate_user"]}
    lists = {s["name"]: sorted(acl_rules(str(u)) for u in admin(s, client_cert).acl_list()
                               if str(u).split()[1] not in per_host)
             for s in ha_group}
    first = next(iter(lists.values()))
    assert all(acl == first for acl in lists.values()), lists
    names = {rules[0] for rules in first}
    assert {ha_group[0]["replication_user"], ha_group[0]["sentinel_user"], ha_group[0]["check_user"]} <= names


def test_sentinel_user_has_exactly_what_sentinel_sends(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    conn = node(ha_node, client_cert, ha_node["sentinel_user"], ha_node["sentinel_password"])
    assert conn.ping()
    assert conn.execute_command("ROLE")
    for command in (("GET", "app1:sess:x"), ("SET", "app1:sess:x", "1"), ("KEYS", "*"), ("FLUSHALL",),
                    ("CONFIG", "SET", "maxmemory", "1"), ("CONFIG", "GET", "*"), ("ACL", "LIST"),
                    ("DEBUG", "SLEEP", "0"), ("SHUTDOWN",), ("FAILOVER",)):
        # (DEBUG is refused before the ACL check: enable-debug-command no.)
        with pytest.raises(redis.exceptions.ResponseError, match="NOPERM|no permissions|not allowed"):
            conn.execute_command(*command)


def test_check_user_reads_replication_info_only(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    conn = node(ha_node, client_cert, ha_node["check_user"], ha_node["check_password"])
    assert "role" in conn.info("replication")
    for command in (("PING",), ("INFO",), ("INFO", "server"), ("INFO", "clients"), ("GET", "app1:sess:x"),
                    ("KEYS", "*"), ("ROLE",), ("CONFIG", "GET", "*"), ("CLIENT", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            conn.execute_command(*command)


def test_ha_secrets_live_only_where_needed(ha_node: Store) -> None:
    host = host_for(ha_node["name"])
    conf_dir = ha_node["conf_file"].rsplit("/", 1)[0]
    # masterauth: the server's configuration (root:<group> 0640) only.
    assert files_containing(host, ha_node["replication_password"], ["/etc"]) == [ha_node["conf_file"]]
    # Sentinel's auth-pass / sentinel-pass: its live file (service user 0600)
    # and the kit's desired copy (root 0600).
    found = files_containing(host, ha_node["sentinel_password"], ["/etc"])
    assert ha_node["sentinel_conf"] in found
    assert all(f == ha_node["sentinel_conf"] or f.startswith("/etc/session-kit/secrets/") for f in found), found
    # The check user's password lives on the app hosts' proxy, not on the nodes.
    assert files_containing(host, ha_node["check_password"], ["/etc"]) == []
    sentinel_dir = host.file(ha_node["sentinel_conf"].rsplit("/", 1)[0])
    assert (sentinel_dir.user, sentinel_dir.mode) == (ha_node["user"], 0o750)
    live = host.file(ha_node["sentinel_conf"])
    assert live.user == ha_node["user"] and live.mode & 0o007 == 0
    assert host.check_output(f"find {conf_dir} -type f -perm -o=r").strip() == ""


def test_write_safety_settings(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    cfg = admin(ha_node, client_cert).config_get("min-replicas-*")
    assert cfg["min-replicas-to-write"] == str(ha_node["min_replicas_to_write"])
    assert cfg["min-replicas-max-lag"] == str(ha_node["min_replicas_max_lag"])


# --- one primary, named by every Sentinel; the apps' proxy follows it ----------------


def test_every_sentinel_names_the_one_primary(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    primary = settled(ha_group, client_cert)
    masters = [s["name"] for s in ha_group if role(s, client_cert)[0] == "master"]
    assert masters == [primary["name"]]


def test_app_reaches_the_primary_through_its_local_proxy(ha_group: list[Store],
                                                         client_cert: tuple[str, str] | None) -> None:
    apps = apps_of(ha_group)
    if not apps:
        pytest.skip("no app with the live probe uses this HA group")
    primary = settled(ha_group, client_cert)
    for app in apps:
        sid = new_session(app)
        assert reply(app, request(app, "GET", "/probe/session", sid))["count"] == 2
        store_key = next(u["key_prefix"] for u in primary["app_users"] if u["name"] == app["store_user"]) + sid
        assert admin(primary, client_cert).exists(store_key) == 1
        host = host_for(app["name"])
        listening = host.check_output("ss -Htln")
        local = [line.split()[3] for line in listening.splitlines()
                 if line.split()[3].endswith(f":{primary['proxy_port']}")]
        assert local == [f"127.0.0.1:{primary['proxy_port']}"], listening
        cfg = host.run("stat -c '%U:%G %a' /etc/haproxy/haproxy.cfg").stdout.strip()
        assert cfg == "root:haproxy 640"


# --- failover under load ------------------------------------------------------------


class Load:
    """A bounded loop of session requests through an app, recording (time, ok)."""

    def __init__(self, app: App, sid: str) -> None:
        self.app, self.sid = app, sid
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_WINDOW_S + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                response = request(self.app, "GET", "/probe/session", self.sid, status=None)
                ok = response.status_code == 200 and response.json().get("id") == self.sid
            except Exception:  # any failure of a request counts as a failed request
                ok = False
            self.results.append((time.monotonic(), ok))
            time.sleep(PERIOD_S)


def _report_path(engine: str, distro: str) -> Path:
    """KIT_HA_REPORT_DIR (kept after the run: CI collects the figures there), else the molecule
    ephemeral dir (removed by molecule's destroy), else the temp dir."""
    base = (os.environ.get("KIT_HA_REPORT_DIR") or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
            or tempfile.gettempdir())
    return Path(base) / f"redis-ha-failover-{engine}-{distro}.json"


def test_failover_under_load(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    apps = apps_of(ha_group)
    if not apps:
        pytest.skip("no app with the live probe uses this HA group")
    app = apps[0]
    old = settled(ha_group, client_cert)
    distro = str(host_for(old["name"]).system_info.codename)
    report = _report_path(str(old["engine"]), distro)
    prefix = next(u["key_prefix"] for u in old["app_users"] if u["name"] == app["store_user"])
    # Sessions written before the window: each counted to 2 through the app.
    before = [new_session(app) for _ in range(20)]
    for sid in before:
        assert reply(app, request(app, "GET", "/probe/session", sid))["count"] == 2
    time.sleep(2)  # replication is asynchronous; the window below starts after this
    load = Load(app, new_session(app))
    load.thread.start()
    time.sleep(3)
    stopped_at = time.monotonic()
    subprocess.run(["docker", "stop", "-t", "1", old["name"]], check=True, capture_output=True, timeout=60)
    try:
        # Requests succeed again: 3 s of successes in a row after the stop.
        def recovered() -> bool:
            recent = [ok for t, ok in load.results if t > stopped_at]
            return len(recent) >= 15 and all(recent[-15:])
        wait_for("requests through the app succeed again", recovered, LOAD_WINDOW_S)
        load.stop.set()
        load.thread.join(timeout=30)
        after = [(t, ok) for t, ok in load.results if t >= stopped_at]
        failures = [t for t, ok in after if not ok]
        recovery = (max(failures) - stopped_at + PERIOD_S) if failures else 0.0
        survivors = [s for s in ha_group if s is not old]
        new_name = named_primary(survivors[0], client_cert)
        assert new_name and new_name != old["announce_host"], f"no new primary elected (Sentinel names {new_name})"
        new = by_announce(ha_group, new_name)
        assert role(new, client_cert)[0] == "master"
        # Every session written before the window is on the new primary with its TTL ...
        conn = admin(new, client_cert)
        idle = int(app["idle_timeout"])
        lost = [sid for sid in before if not conn.exists(prefix + sid)]
        ttls = [conn.ttl(prefix + sid) for sid in before]
        # ... and the app reads it where it left it.
        counts = [reply(app, request(app, "GET", "/probe/session", sid))["count"] for sid in before]
        figures = {
            "engine": old["engine"], "distro": distro, "old_primary": old["name"], "new_primary": new["name"],
            "requests": len(load.results), "requests_after_stop": len(after), "failed_requests": len(failures),
            "seconds_to_recovery": round(recovery, 1), "recovery_target_s": RECOVERY_TARGET_S,
            "sessions_before_window": len(before), "sessions_lost": len(lost),
            "ttl_min": min(ttls), "ttl_max": max(ttls), "idle_timeout": idle,
        }
        print(f"\nFAILOVER FIGURES {json.dumps(figures)}")
        report.write_text(json.dumps(figures, indent=2) + "\n")
        assert not lost, f"sessions lost in the failover: {len(lost)} of {len(before)}"
        assert all(0 < ttl <= idle for ttl in ttls), ttls
        assert all(idle - ttl < 120 for ttl in ttls), f"TTLs not kept: {ttls}"
        assert counts == [3] * len(before), counts
        assert recovery <= RECOVERY_TARGET_S, figures
    finally:
        load.stop.set()
        subprocess.run(["docker", "start", old["name"]], check=True, capture_output=True, timeout=60)
    # The old primary, started again, rejoins as a replica of the new one.
    def rejoined() -> bool:
        info = admin(old, client_cert).info("replication")
        return info["role"] == "slave" and info["master_link_status"] == "up" and \
            info["master_host"] == new["announce_host"]
    seconds = wait_for("the old primary rejoins as a replica", rejoined, 90)
    figures["seconds_to_rejoin_after_start"] = round(seconds, 1)
    print(f"REJOIN FIGURES {json.dumps({'old_primary': old['name'], 'seconds_to_rejoin': round(seconds, 1)})}")
    report.write_text(json.dumps(figures, indent=2) + "\n")
    assert settled(ha_group, client_cert)["name"] == new["name"]


def test_no_ha_secret_in_ansible_output(ha_node: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "Sentinel" in ansible_log, "log does not hold the HA converge"
    for key in ("replication_password", "sentinel_password", "check_password"):
        assert ha_node[key] not in ansible_log, key
