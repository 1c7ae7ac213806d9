"""Redis/Valkey session stores: authentication and the app users' ACLs, from a client's side.

No anonymous or default-user access, no wrong password; each app user does
its session work (phpredis' commands and lock release) inside its own key
prefix and nothing else.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
import redis
from redis_client import Store, app_user, connect, key, primary_of, users_with_locking

# phpredis' lock release script (redis_session.c): delete the lock only if we own it.
LOCK_RELEASE = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'
# phpredis sends EVALSHA of this first (LOCK_RELEASE_SHA_STR), EVAL only after NOSCRIPT.
LOCK_RELEASE_SHA = "b70c2384248f88e6b75b9f89241a180f856ad852"


@pytest.fixture
def app(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    user = app_user(redis_store)
    return connect(redis_store, client_cert, user["name"], user["password"])


@pytest.fixture
def app_writer(redis_store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    """The app user on the node that takes writes (see primary_of)."""
    user = app_user(redis_store)
    return connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])


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
    # phpredis' lock release: EVALSHA of the script the kit preloaded.
    assert app.evalsha(LOCK_RELEASE_SHA, 1, lock, "not-mine") == 0
    assert app.evalsha(LOCK_RELEASE_SHA, 1, lock, token) == 1
    assert app.exists(lock) == 0
    assert app.delete(sid) == 1
    assert app.setex(sid, 60, "x") and app.unlink(sid) == 1




def test_lock_release_script_is_phpredis_own() -> None:
    """The SHA-1 the kit grants and loads is the one phpredis sends (computed from the script here)."""
    assert hashlib.sha1(LOCK_RELEASE.encode()).hexdigest() == LOCK_RELEASE_SHA


def test_lock_release_script_is_loaded_on_every_node(redis_store: Store,
                                                     client_cert: tuple[str, str] | None) -> None:
    """Every node (replicas too: SCRIPT LOAD is not replicated) holds the script phpredis calls by EVALSHA."""
    assert redis_store["lock_release_sha"] == LOCK_RELEASE_SHA
    admin = connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"])
    assert admin.script_exists(LOCK_RELEASE_SHA) == [True]
    # Control: a script nobody loaded is not there.
    assert admin.script_exists(hashlib.sha1(b"return 1").hexdigest()) == [False]


def test_users_with_locking_release_locks_by_evalsha(redis_store: Store,
                                                     client_cert: tuple[str, str] | None) -> None:
    """phpredis' sequence: SET NX EX takes the lock, EVALSHA of the preloaded script releases only our own."""
    for user in users_with_locking(redis_store, True):
        conn = connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])
        lock, token = f"{user['key_prefix']}{uuid.uuid4().hex}_LOCK", uuid.uuid4().hex
        assert conn.set(lock, token, nx=True, ex=30)
        assert conn.set(lock, "second-request", nx=True, ex=30) is None, "a second request must wait"
        assert conn.evalsha(LOCK_RELEASE_SHA, 1, lock, "not-mine") == 0
        assert conn.get(lock) == token
        assert conn.evalsha(LOCK_RELEASE_SHA, 1, lock, token) == 1
        assert conn.exists(lock) == 0
        assert conn.set(lock, "second-request", nx=True, ex=30), "released: the next request takes it"
        assert conn.delete(lock) == 1


@pytest.mark.parametrize("command", [
    ("EVAL", "return 1", "0"), ("EVAL", LOCK_RELEASE, "1", "{prefix}x_LOCK", "t"), ("EVAL_RO", "return 1", "0"),
    ("EVALSHA", hashlib.sha1(b"return 1").hexdigest(), "0"), ("EVALSHA_RO", LOCK_RELEASE_SHA, "1", "{prefix}x", "t"),
    ("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "EXISTS", LOCK_RELEASE_SHA), ("SCRIPT", "KILL"),
    ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('f', function() return 1 end)"),
    ("FUNCTION", "LIST"), ("FCALL", "f", "0"),
], ids=lambda c: " ".join(c[:2]))
def test_no_tenant_runs_a_script_of_its_own(redis_store: Store, client_cert: tuple[str, str] | None,
                                           command: tuple[str, ...]) -> None:
    """No app user (locking or not) may run, load or call a script or function: EVAL 'while true do end' would
    stall the store for every tenant. EVALSHA of the lock release script is all locking users get."""
    for user in redis_store["app_users"]:
        conn = connect(primary_of(redis_store, client_cert), client_cert, user["name"], user["password"])
        args = [a.format(prefix=user["key_prefix"]) for a in command]
        with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|NOPERM"):
            conn.execute_command(*args)


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
    # The one script it may run is held to its key pattern too.
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|NOPERM"):
        app.evalsha(LOCK_RELEASE_SHA, 1, "other:key_LOCK", "x")


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


def _size_bytes(size: str) -> int:
    """A redis.conf size ("1mb" = 1024^2, "1m" = 10^6) in bytes."""
    units = {"": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    number = size.rstrip("kmgbKMGB")
    return int(number) * units[size[len(number):].lower()]


def test_session_size_is_bounded(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    """A value under redis_session_store_max_session_size (proto-max-bulk-len) is stored; one byte more than
    the bound is refused and stores nothing."""
    limit = _size_bytes(str(redis_store["max_session_size"]))
    user = app_user(redis_store)
    primary = primary_of(redis_store, client_cert)
    admin = connect(redis_store, client_cert, redis_store["admin_user"], redis_store["admin_password"])
    assert int(str(admin.config_get("proto-max-bulk-len")["proto-max-bulk-len"])) == limit
    app = connect(primary, client_cert, user["name"], user["password"])
    small, big = key(redis_store), key(redis_store)
    assert app.setex(small, 60, "x" * (limit - 1024))
    assert len(str(app.get(small))) == limit - 1024
    assert app.delete(small) == 1
    with pytest.raises((redis.exceptions.ResponseError, redis.exceptions.ConnectionError)):
        app.setex(big, 60, "x" * (limit + 1))
    fresh = connect(primary, client_cert, user["name"], user["password"])
    assert fresh.exists(big) == 0
