"""Redis/Valkey session stores, proven from a client's side.

Every hardening claim has the connection that must work and the one that
must be refused. Real servers only: redis-py against the store's TLS port.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import time
import uuid
from typing import Any

import conftest
import pytest
import redis
from conftest import files_containing, host_for, no_retry
from tlsprobe import client_context, handshake, openssl_groups_handshake

Store = dict[str, Any]

# phpredis' lock release script (redis_session.c): delete the lock only if we own it.
LOCK_RELEASE = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'


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


@pytest.fixture
def app(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    user = app_user(redis_store)
    return connect(redis_store, client_cert, user["name"], user["password"])


@pytest.fixture
def app_writer(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    """The app user on the node that takes writes (see primary_of)."""
    user = app_user(redis_store)
    return connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])


@pytest.fixture
def admin(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    return connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"])


def key(store: Store, suffix: str = "") -> str:
    return f"{app_user(store)['key_prefix']}{uuid.uuid4().hex}{suffix}"


# --- transport -------------------------------------------------------------

def test_plaintext_to_tls_port_is_refused(redis_store: Store) -> None:
    plain = redis.Redis(host=redis_store["host"], port=int(redis_store["port"]), socket_timeout=5, protocol=2,
                        retry=no_retry())
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()


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


def test_only_the_tls_port_listens(redis_store: Store) -> None:
    ports, unix = listening(redis_store["name"], redis_store["service"], redis_store["user"])
    assert ports == {str(redis_store["tls_port"])}
    assert not unix


def test_tls_1_1_is_refused(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    old = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_1,
                         max_version=ssl.TLSVersion.TLSv1_1, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], old)
    # The server's alert, not a client-side refusal to offer TLS 1.1.
    assert not result.ok and "ALERT_PROTOCOL_VERSION" in result.error, result
    # Control: the same client construction with TLS 1.2 gets through.
    good = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_2,
                          max_version=ssl.TLSVersion.TLSv1_2, cert=cert)
    control = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], good)
    assert control.ok and control.version == "TLSv1.2", control


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
def test_non_profile_tls12_cipher_is_refused(redis_store: Store, client_cert: tuple[str, str] | None,
                                             cipher: str) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert not result.ok and "ALERT_HANDSHAKE_FAILURE" in result.error, result


def test_profile_tls12_cipher_works(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert result.ok and result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", result


def test_tls13_works(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_3, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert result.ok and result.version == "TLSv1.3", result


def test_key_exchange_groups_follow_the_profile(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    args = (redis_store["host"], int(redis_store["port"]), redis_store["ca_cert_local"])
    assert not openssl_groups_handshake(*args, "secp521r1", cert=cert)
    assert not openssl_groups_handshake(*args, "ffdhe2048", cert=cert)
    assert openssl_groups_handshake(*args, "prime256v1", cert=cert)
    assert openssl_groups_handshake(*args, "X25519", cert=cert)


def test_server_certificate_fails_for_a_wrong_name(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), "not-the-store.invalid", ctx)
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error, result


def test_mtls_client_without_certificate_is_refused(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    if not needs_cert(redis_store):
        pytest.skip("tls-auth-clients is not 'yes' on this store")
    user = app_user(redis_store)
    without = connect(redis_store, client_cert, user["name"], user["password"], with_cert=False)
    with pytest.raises((redis.ConnectionError, ssl.SSLError, socket.error)):
        without.ping()
    assert connect(redis_store, client_cert, user["name"], user["password"]).ping()


# --- authentication ---------------------------------------------------------

def test_unauthenticated_ping_gets_noauth(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    anonymous = connect(redis_store, client_cert)
    with pytest.raises(redis.AuthenticationError, match="NOAUTH|Authentication required"):
        anonymous.ping()


@pytest.mark.parametrize("password", ["", "nopass", "default"])
def test_default_user_cannot_authenticate(redis_store: Store, client_cert: tuple[str, str] | None,
                                          password: str) -> None:
    conn = connect(redis_store, client_cert)
    with pytest.raises(redis.AuthenticationError):
        conn.execute_command("AUTH", "default", password)


def test_wrong_password_is_refused(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    user = app_user(redis_store)
    with pytest.raises(redis.AuthenticationError):
        connect(redis_store, client_cert, user["name"], user["password"] + "x").ping()


def test_acl_stores_only_password_hashes(admin: redis.Redis, redis_store: Store) -> None:
    rules = admin.execute_command("ACL", "LIST")
    text = "\n".join(rules)
    for user in redis_store["app_users"]:
        assert user["password"] not in text
    assert redis_store["admin_password"] not in text
    default = next(r for r in rules if r.startswith("user default "))
    assert " off " in f" {default} " and "#" not in default and "nopass" not in default


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


# --- app user: least privilege -----------------------------------------------

def test_app_user_can_do_session_work(app_writer: redis.Redis, redis_store: Store) -> None:
    app = app_writer
    sid = key(redis_store)
    lock = sid + "_LOCK"
    token = uuid.uuid4().hex
    assert app.ping()
    assert app.execute_command("SELECT", 0) in (True, "OK")
    assert app.set(lock, token, nx=True, ex=30)
    assert app.set(lock, "other", nx=True, ex=30) is None
    assert app.setex(sid, 1800, "a|i:1;")
    assert app.get(sid) == "a|i:1;"
    assert app.exists(sid) == 1
    assert app.expire(sid, 1700)
    assert app.set(sid, "a|i:2;", ex=1800)
    assert app.execute_command("GETEX", sid, "EX", 1800) == "a|i:2;"
    assert app.eval(LOCK_RELEASE, 1, lock, "not-mine") == 0
    assert app.eval(LOCK_RELEASE, 1, lock, token) == 1
    # EVAL cached the script; EVALSHA must be permitted (NOSCRIPT would be fine).
    with contextlib.suppress(redis.exceptions.NoScriptError):
        assert app.evalsha(hashlib.sha1(LOCK_RELEASE.encode()).hexdigest(), 1, lock, token) == 0
    assert app.delete(sid) == 1
    assert app.setex(sid, 60, "x") and app.unlink(sid) == 1


def users_with_locking(store: Store, locking: bool) -> list[dict[str, Any]]:
    users = [u for u in store["app_users"] if bool(u.get("locking", True)) == locking]
    if not users:
        pytest.skip(f"no app user with locking={locking} on this store")
    return users


def test_users_with_locking_release_locks_by_eval(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    for user in users_with_locking(redis_store, True):
        conn = connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])
        lock, token = f"{user['key_prefix']}{uuid.uuid4().hex}_LOCK", uuid.uuid4().hex
        assert conn.set(lock, token, nx=True, ex=30)
        assert conn.eval(LOCK_RELEASE, 1, lock, token) == 1
        assert conn.exists(lock) == 0


def test_users_without_locking_get_no_eval(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    """EVAL/EVALSHA (phpredis' lock release) only for users with locking on."""
    for user in users_with_locking(redis_store, False):
        conn = connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])
        lock, token = f"{user['key_prefix']}{uuid.uuid4().hex}_LOCK", uuid.uuid4().hex
        assert conn.set(lock, token, nx=True, ex=30)
        with pytest.raises(redis.exceptions.NoPermissionError):
            conn.eval(LOCK_RELEASE, 1, lock, token)
        with pytest.raises(redis.exceptions.NoPermissionError):
            conn.evalsha(hashlib.sha1(LOCK_RELEASE.encode()).hexdigest(), 1, lock, token)
        assert conn.get(lock) == token, "the lock must still be there"
        assert conn.delete(lock) == 1


def test_app_user_cannot_touch_keys_outside_its_prefix(app: redis.Redis, redis_store: Store) -> None:
    others = [u["key_prefix"] for u in redis_store["app_users"][1:]] + ["other:", "PHPREDIS_SESSION:"]
    for prefix in others:
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.get(f"{prefix}{uuid.uuid4().hex}")
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.setex(f"{prefix}{uuid.uuid4().hex}", 60, "x")
    # Scripts run with the caller's permissions too.
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|NOPERM"):
        app.eval('return redis.call("set", KEYS[1], "x")', 1, "other:key")


@pytest.mark.parametrize("command", [
    ("KEYS", "*"), ("SCAN", "0"), ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "maxmemory", "1"), ("DEBUG", "SLEEP", "0"), ("ACL", "WHOAMI"), ("ACL", "LIST"),
    ("CLIENT", "LIST"), ("CLIENT", "KILL", "TYPE", "normal"), ("SUBSCRIBE", "news"), ("PUBLISH", "news", "x"),
    ("SAVE",), ("BGSAVE",), ("REPLICAOF", "127.0.0.1", "6379"), ("SHUTDOWN",), ("MONITOR",),
    ("MODULE", "LIST"), ("INFO",), ("SCRIPT", "FLUSH"), ("FUNCTION", "LIST"), ("MIGRATE", "x", "1", "k", "0", "1"),
])
def test_app_user_is_refused(app: redis.Redis, command: tuple[str, ...]) -> None:
    # NOPERM from the ACL; for DEBUG/MODULE some versions answer first with
    # "command not allowed" (enable-*-command no). Both are refusals.
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|not allowed"):
        app.execute_command(*command)


# --- admin: dangerous features are off server-side ----------------------------

def test_admin_works(admin: redis.Redis) -> None:
    assert admin.ping()
    assert any(r.startswith("user default ") for r in admin.execute_command("ACL", "LIST"))
    policy = str(admin.config_get("maxmemory-policy")["maxmemory-policy"])
    assert policy.startswith(("volatile-", "noeviction"))


@pytest.mark.parametrize("setting,value", [("dir", "/tmp"), ("dbfilename", "x.rdb")])
def test_admin_cannot_change_protected_configs(admin: redis.Redis, setting: str, value: str) -> None:
    # Denied by the admin's ACL (no CONFIG SET) and by enable-protected-configs no.
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)protected|no permissions"):
        admin.config_set(setting, value)
    assert admin.config_get(setting)[setting] != value


@pytest.mark.parametrize("setting,value", [("aclfile", "/tmp/users.acl"), ("unixsocket", "/tmp/redis.sock"),
                                           ("port", "6390")])
def test_admin_cannot_open_listeners_or_swap_the_aclfile(admin: redis.Redis, setting: str, value: str) -> None:
    with pytest.raises(redis.exceptions.ResponseError):
        admin.config_set(setting, value)
    assert admin.config_get(setting)[setting] != value


@pytest.mark.parametrize("command", [
    ("CONFIG", "SET", "port", "6390"), ("CONFIG", "SET", "tls-protocols", "TLSv1"),
    ("ACL", "SETUSER", "intruder", "on", ">secretsecretsecret", "+@all", "~*"), ("ACL", "DELUSER", "default"),
    ("REPLICAOF", "127.0.0.1", "6390"),
])
def test_admin_cannot_bypass_the_inventory(admin: redis.Redis, command: tuple[str, ...]) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        admin.execute_command(*command)


def test_admin_cannot_use_debug_or_modules(admin: redis.Redis) -> None:
    # Denied twice: by the admin's ACL and, should that be widened, by the server.
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|not allowed"):
        admin.execute_command("DEBUG", "SLEEP", "0")
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|not allowed"):
        admin.execute_command("MODULE", "LOAD", "/tmp/evil.so")
    for setting in ("enable-debug-command", "enable-module-command", "enable-protected-configs"):
        assert admin.config_get(setting)[setting] == "no", setting


def test_admin_cannot_rewrite_the_configuration(admin: redis.Redis) -> None:
    with pytest.raises(redis.exceptions.ResponseError):
        admin.execute_command("CONFIG", "REWRITE")


def test_server_settings(admin: redis.Redis, redis_store: Store) -> None:
    cfg = {k: admin.config_get(k)[k] for k in (
        "port", "protected-mode", "appendonly", "appendfsync", "maxmemory-policy", "tls-protocols",
        "tls-prefer-server-ciphers", "tls-replication", "tls-auth-clients", "maxmemory")}
    assert cfg["port"] == "0"
    assert cfg["protected-mode"] == "yes"
    assert cfg["appendonly"] == "yes"
    assert cfg["appendfsync"] == redis_store["appendfsync"]
    assert cfg["maxmemory-policy"] == redis_store["maxmemory_policy"]
    assert cfg["maxmemory"] != "0"
    assert cfg["tls-protocols"] == "TLSv1.2 TLSv1.3"
    assert cfg["tls-prefer-server-ciphers"] == "no"
    assert cfg["tls-replication"] == "yes"
    assert cfg["tls-auth-clients"] == redis_store["tls_auth_clients"]


def test_user_data_is_hidden_from_the_log(admin: redis.Redis, redis_store: Store) -> None:
    """hide-user-data-from-log is on wherever the server knows it: Redis 8.0
    (default no) and Valkey 8.1 on Debian 13; Redis 7.0 (Debian 12) lacks it."""
    info = admin.info("server")
    version = int(str(info.get("valkey_version") or info["redis_version"]).split(".", 1)[0])
    setting = admin.config_get("hide-user-data-from-log")
    if redis_store["engine"] == "valkey" or version >= 8:
        assert setting == {"hide-user-data-from-log": "yes"}
    else:
        assert setting == {}, "the server knows the setting now: enable it in vars/"


# --- TLS reload user: CONFIG SET and nothing else ------------------------------------

@pytest.fixture
def reloader(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    return connect(redis_store, client_cert, redis_store["reload_user"], reload_secret(redis_store))


def test_reload_user_rereads_the_tls_files(reloader: redis.Redis, admin: redis.Redis) -> None:
    cert = str(admin.config_get("tls-cert-file")["tls-cert-file"])
    assert reloader.config_set("tls-cert-file", cert)
    assert admin.ping(), "a connection opened before the reload still works"


@pytest.mark.parametrize("command", [
    ("PING",), ("GET", "app1:sess:x"), ("SET", "app1:sess:x", "1"), ("KEYS", "*"), ("SCAN", "0"),
    ("CONFIG", "GET", "*"), ("CONFIG", "REWRITE"), ("FLUSHALL",), ("ACL", "LIST"), ("ACL", "SETUSER", "x"),
    ("INFO",), ("CLIENT", "LIST"), ("MONITOR",), ("EVAL", "return 1", "0"), ("SHUTDOWN",), ("SAVE",),
    ("REPLICAOF", "127.0.0.1", "6390"), ("SUBSCRIBE", "news"),
])
def test_reload_user_can_do_nothing_else(reloader: redis.Redis, command: tuple[str, ...]) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        reloader.execute_command(*command)


@pytest.mark.parametrize("setting,value", [("dir", "/tmp"), ("dbfilename", "x.rdb")])
def test_reload_user_cannot_change_protected_configs(reloader: redis.Redis, admin: redis.Redis, setting: str,
                                                     value: str) -> None:
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)protected"):
        reloader.config_set(setting, value)
    assert admin.config_get(setting)[setting] != value


def test_reload_secret_is_root_only(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    folder, secret = host.file("/etc/session-kit/secrets"), host.file(reload_secret_file(redis_store))
    assert (folder.user, folder.group, folder.mode) == ("root", "root", 0o700)
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)


# --- host: files and secrets ------------------------------------------------------

def test_file_owners_and_modes(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    expected = {
        redis_store["conf_file"]: ("root", redis_store["group"], 0o640),
        redis_store["aclfile"]: (redis_store["user"], redis_store["group"], 0o600),
        redis_store["tls_key"]: ("root", redis_store["group"], 0o640),
    }
    for path, (owner, group, mode) in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == (owner, group, mode), path


def test_no_world_readable_files_in_the_config_dir(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    conf_dir = redis_store["conf_file"].rsplit("/", 1)[0]
    found = host.check_output(f"find {conf_dir} -type f -perm -o=r")
    assert found.strip() == ""


def test_no_plaintext_secret_under_etc(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    secrets = [redis_store["admin_password"]] + [u["password"] for u in redis_store["app_users"]]
    for secret in secrets:
        assert files_containing(host, secret, ["/etc"]) == []
    # The reload user's password lives in its root-only file and nowhere else.
    assert files_containing(host, reload_secret(redis_store), ["/etc"]) == [reload_secret_file(redis_store)]


def test_server_runs_unprivileged_and_sandboxed(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    show = host.check_output(
        f"systemctl show -p User -p ProtectSystem -p NoNewPrivileges -p ReadWritePaths {redis_store['service']}")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props["User"] == redis_store["user"]
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    assert "/etc" not in props["ReadWritePaths"]


# --- durability -------------------------------------------------------------------

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
    ttl = connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"]).ttl(sid)
    assert 1700 < ttl <= 1800


# --- secrets in Ansible output ------------------------------------------------------

def test_no_secret_in_ansible_output(redis_store: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "redis_session_store" in ansible_log, "log does not hold the converge"
    secrets = [redis_store["admin_password"], reload_secret(redis_store)]
    for secret in secrets + [u["password"] for u in redis_store["app_users"]]:
        assert secret not in ansible_log
