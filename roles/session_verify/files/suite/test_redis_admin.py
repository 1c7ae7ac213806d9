"""Redis/Valkey session stores: the admin and TLS reload users, and the server's settings.

The admin sees the ACL (password hashes only) and the settings but cannot
change what the inventory decides (protected configs, listeners, users,
replication, DEBUG, modules, CONFIG REWRITE); the TLS reload user can
re-read the TLS files and do nothing else.
"""

from __future__ import annotations

import pytest
import redis
from conftest import host_for
from redis_client import Store, connect, reload_secret, reload_secret_file


@pytest.fixture
def admin(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    return connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"])


# --- the ACL as the admin sees it -------------------------------------------

def test_acl_stores_only_password_hashes(admin: redis.Redis, redis_store: Store) -> None:
    rules = admin.execute_command("ACL", "LIST")
    text = "\n".join(rules)
    for user in redis_store["app_users"]:
        assert user["password"] not in text
    assert redis_store["admin_password"] not in text
    default = next(r for r in rules if r.startswith("user default "))
    assert " off " in f" {default} " and "#" not in default and "nopass" not in default


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

