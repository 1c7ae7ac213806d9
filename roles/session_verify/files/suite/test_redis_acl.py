"""Redis/Valkey session stores: authentication and the app users' ACLs, from a client's side.

No anonymous or default-user access, no wrong password; each app user does
its session work (phpredis' commands and lock release) inside its own key
prefix and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid

import pytest
import redis
from redis_client import Store, app_user, connect, key, primary_of, users_with_locking

# phpredis' lock release script (redis_session.c): delete the lock only if we own it.
LOCK_RELEASE = 'if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'


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
    assert app.eval(LOCK_RELEASE, 1, lock, "not-mine") == 0
    assert app.eval(LOCK_RELEASE, 1, lock, token) == 1
    # EVAL cached the script; EVALSHA must be permitted (NOSCRIPT would be fine).
    with contextlib.suppress(redis.exceptions.NoScriptError):
        assert app.evalsha(hashlib.sha1(LOCK_RELEASE.encode()).hexdigest(), 1, lock, token) == 0
    assert app.delete(sid) == 1
    assert app.setex(sid, 60, "x") and app.unlink(sid) == 1




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
