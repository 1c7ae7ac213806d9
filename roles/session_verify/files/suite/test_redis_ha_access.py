"""Redis/Valkey HA groups: who may do what on a group.

Sentinels refuse anonymous clients and let only the admin change them; the
ACLs are identical on every node, the Sentinel and check users have exactly
what they need, and the group's secrets live only where they are needed (not
in the Ansible output either).
"""

from __future__ import annotations

import pytest
import redis
from conftest import files_containing, host_for
from redis_ha_client import Store, admin, as_dict, node, sentinel, sentinel_admin

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


@pytest.mark.parametrize("command", [
    ("ACL", "SETUSER", "intruder", "on", ">intruder-password-0123", "~*", "&*", "+@all"),
    ("ACL", "SETUSER", "{admin}", ">another-password-0123"),
    ("ACL", "DELUSER", "{sentinel_user}"),
    ("ACL", "LOAD"),
    ("ACL", "SAVE"),
    ("ACL", "LIST"),
    ("ACL", "GETUSER", "{admin}"),
    ("SENTINEL", "CONFIG", "SET", "sentinel-pass", "x"),
    ("SENTINEL", "CONFIG", "GET", "*"),
    ("SENTINEL", "DEBUG"),
    ("SENTINEL", "SIMULATE-FAILURE", "crash-after-election"),
    ("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "6379", "0", "*"),
    ("SHUTDOWN",),
    ("PUBLISH", "__sentinel__:hello", "x"),
], ids=lambda c: " ".join(c[:2]))
def test_sentinel_admin_cannot_manage_users_or_sentinel_settings(ha_node: Store,
                                                                 client_cert: tuple[str, str] | None,
                                                                 command: tuple[str, ...]) -> None:
    """On a Sentinel the admin does an operator's work only: no user management (ACL SETUSER there created a
    +@all user before), no SENTINEL CONFIG (its credentials and addresses are the role's), no debugging."""
    conn = sentinel_admin(ha_node, client_cert)
    args = [a.format(admin=ha_node["admin_user"], sentinel_user=ha_node["sentinel_user"]) for a in command]
    with pytest.raises(redis.exceptions.ResponseError, match="NOPERM|no permissions"):
        conn.execute_command(*args)
    # Control: the same connection works, and no user was added.
    assert conn.execute_command("ACL", "WHOAMI") == ha_node["admin_user"]
    assert "intruder" not in conn.execute_command("ACL", "USERS")


def test_sentinel_admin_does_an_operators_work(ha_node: Store, client_cert: tuple[str, str] | None) -> None:
    conn = sentinel_admin(ha_node, client_cert)
    name = ha_node["ha_name"]
    assert conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
    assert conn.execute_command("SENTINEL", "CKQUORUM", name).startswith("OK")
    assert len(conn.execute_command("SENTINEL", "REPLICAS", name)) == 2
    assert len(conn.execute_command("SENTINEL", "SENTINELS", name)) == 2
    assert int(conn.info("sentinel")["sentinel_masters"]) == 1
    assert conn.execute_command("CLIENT", "LIST")


# --- ACLs: identical on every node; the check user is read-only replication info ------


def acl_rules(line: str) -> tuple[str, ...]:
    """An ACL LIST line as its user name and its sorted rules. Redis 7.0 (Debian 12) renders a user's
    command rules from its command bitmap in the order of the command table's hash (seeded per
    process), so two nodes with the same aclfile list the same rules in different orders; 7.2+ and
    Valkey keep the written order."""
    words = line.split()
    return (words[1], *sorted(words[2:]))


def test_acl_users_are_identical_on_every_node(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    # The TLS reload, credential rotation and script loader users' passwords are made on each host and never
    # leave it:
    # their hashes differ.
    per_host = {ha_group[0]["reload_user"], ha_group[0]["rotate_user"], ha_group[0]["script_user"]}
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



def test_no_ha_secret_in_ansible_output(ha_node: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "Sentinel" in ansible_log, "log does not hold the HA converge"
    for key in ("replication_password", "sentinel_password", "check_password"):
        assert ha_node[key] not in ansible_log, key
