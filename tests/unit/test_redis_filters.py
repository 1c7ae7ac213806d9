"""Filters of redis_session_store and the Redis side of php_session_app's checks.

The parametrized table in test_redis_validation.py proves each refusal through a
real role run; these call the filters directly for what a table row cannot
show cheaply: good input yields no problem, messages never carry a secret,
and an app with locking is refused a store user without it.
"""

from __future__ import annotations

from typing import Any

import pytest
from role_filters import load

REDIS = load("redis_session_store")
APP = load("php_session_app")
SECRET = "S3cret-" + "x" * 20


def settings(**override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "min_password_length": 16, "admin_user": "kitadmin", "admin_password": "A" * 24,
        "reload_user": "kit-tls-reload",
        "app_users": [{"name": "shop", "password": SECRET, "key_prefix": "shop:sess:"},
                      {"name": "blog", "password": SECRET, "key_prefix": "blog:sess:", "locking": False}],
        "app_commands": ["auth", "hello", "select", "ping", "echo", "get", "getex", "set", "setex", "exists",
                         "del", "unlink", "expire"],
        "tls_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:!aNULL",
        "tls_ciphersuites": "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
    }
    return {**base, **override}


def test_good_input_has_no_problem() -> None:
    assert REDIS.problems(settings()) == []


@pytest.mark.parametrize("prefix", ["a:\t~", "a:\n", "a:*", "a b", "a:[x]", "", "a:%RW~"])
def test_bad_prefixes_never_leak_the_password(prefix: str) -> None:
    users = [{"name": "shop", "password": SECRET, "key_prefix": prefix}]
    errors = REDIS.problems(settings(app_users=users))
    assert errors and all("key_prefix" in e for e in errors)
    assert not any(SECRET in e for e in errors)


def test_prefix_overlap_is_reported_once_per_pair() -> None:
    users = [{"name": "a", "password": SECRET, "key_prefix": "s:"},
             {"name": "b", "password": SECRET, "key_prefix": "s:b:"},
             {"name": "c", "password": SECRET, "key_prefix": "t:"}]
    errors = REDIS.problems(settings(app_users=users))
    assert len(errors) == 1 and "[0] (a).key_prefix" in errors[0] and "[1] (b)" in errors[0]


def test_users_view_fills_locking() -> None:
    view = REDIS.users_view([{"name": "a"}, {"name": "b", "locking": False}])
    assert [u["locking"] for u in view] == [True, False]


# --- php_session_app: locking on the app needs a store user with locking ---------------

DEFAULTS = {"idle_timeout": 1800, "absolute_timeout": 28800, "cookie_name_prefix": "__Host-",
            "cookie_samesite": "Strict", "pm_max_children": 5, "probe_enabled": False,
            "config_dir": "/etc/session-kit/php", "files_dir": "/var/lib/php-session-app"}
GROUPS = {"redis_session_stores": ["fake-redis"]}


def _hostvars(locking: bool | None) -> dict[str, Any]:
    user: dict[str, Any] = {"name": "shop", "password": SECRET, "key_prefix": "shop:sess:"}
    if locking is not None:
        user["locking"] = locking
    view = {"name": "fake-redis", "host": "127.0.0.1", "port": 6379, "tls_auth_clients": "no", "app_users": [user]}
    return {"fake-redis": {"redis_session_store_client": view}}


@pytest.mark.parametrize(("app_locking", "user_locking", "refused"), [
    (True, False, True), ("True", False, True), (True, True, False), (True, None, False),
    (False, False, False), ("False", False, False),
])
def test_app_locking_needs_store_user_locking(app_locking: Any, user_locking: bool | None, refused: bool) -> None:
    apps = [{"name": "shop", "store": "redis", "store_user": "shop"}]
    errors = APP.problems(apps, {**DEFAULTS, "redis_locking": app_locking}, GROUPS, _hostvars(user_locking), "web1")
    assert any("php_session_app_redis_locking" in e for e in errors) == refused, errors
    assert not any(SECRET in e for e in errors)


# --- memory: session size bound and shared stores (issue 22) ------------------------------------

@pytest.mark.parametrize(("size", "expected"), [
    ("1mb", 1024**2), ("1MB", 1024**2), ("1m", 10**6), ("512kb", 512 * 1024), ("2gb", 2 * 1024**3),
    ("1048576", 1024**2), (1048576, 1024**2), ("1 mb", None), ("1mb\n", None), ("-1mb", None), ("", None),
    (True, None), (None, None),
])
def test_size_bytes(size: Any, expected: int | None) -> None:
    assert REDIS.size_bytes(size) == expected


def memory(**override: Any) -> dict[str, Any]:
    return settings(**{"max_session_size": "1mb", "maxmemory": "256mb", "accept_shared_memory": True, **override})


def test_memory_settings_good() -> None:
    assert REDIS.problems(memory()) == []
    assert REDIS.problems(memory(max_session_size="32mb")) == []


@pytest.mark.parametrize("size", ["1000kb", "33mb", "1m", "x"])
def test_session_size_out_of_bounds(size: str) -> None:
    errors = REDIS.problems(memory(max_session_size=size))
    assert len(errors) == 1 and errors[0].startswith("redis_session_store_max_session_size must be")


def test_two_tenants_need_accepted_sharing() -> None:
    errors = REDIS.problems(memory(accept_shared_memory=False))
    assert len(errors) == 1 and "redis_session_store_accept_shared_memory: true" in errors[0]
    single = settings(max_session_size="1mb", maxmemory="256mb", accept_shared_memory=False,
                      app_users=settings()["app_users"][:1])
    assert REDIS.problems(single) == []
