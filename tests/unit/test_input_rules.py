"""The kit's shared input rules (plugins/module_utils/input_rules.py) and the filters that use them."""

from __future__ import annotations

import php_session_app
import postgresql_session_store
import pytest
import redis_session_store
from ansible_collections.hardened.sessions.plugins.module_utils import input_rules as rules

SECRET = "Sup3r-Secret-Value-0123"


@pytest.mark.parametrize("char", ["\n", "\r", "\0", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028"])
def test_control_characters_are_refused_without_echoing_the_value(char: str) -> None:
    problem = rules.line_problem("some_password", SECRET + char + "enable-debug-command yes")
    assert problem.startswith("some_password must not contain control characters"), problem
    assert SECRET not in problem and "enable-debug" not in problem


@pytest.mark.parametrize(("value", "separators", "refused"), [
    ("a b", " ", True), ("a\u00a0b", " ", True), ('"ab', ' "', True), ("a;b", ";", True),
    ("a-b", " ;\"'", False), ("plain", "", False), ("with space", "", False),
])
def test_separators_are_refused_only_where_the_format_breaks(value: str, separators: str, refused: bool) -> None:
    assert bool(rules.line_problem("v", value, separators)) is refused


def test_nested_values_name_the_item() -> None:
    problems = rules.line_problems({"v": {"work_mem": "4MB\nssl = off", "ok": ["a", "b\r"]}})
    assert problems == [
        "v.work_mem must not contain control characters (newline, carriage return, NUL, tab, ...): they would end "
        "the configuration line and inject what follows.",
        "v.ok[1] must not contain control characters (newline, carriage return, NUL, tab, ...): they would end "
        "the configuration line and inject what follows.",
    ]


@pytest.mark.parametrize("name", ["root", "nobody", "www-data", "haproxy", "etcd", "_apt", "systemd-timesync",
                                  "Postgres", "valkey", "patroni"])
def test_reserved_accounts(name: str) -> None:
    assert rules.is_reserved_account(name)
    assert "reserved" in rules.reserved_problem("x_role", name)


@pytest.mark.parametrize("name", ["session_gc", "php-shop", "shop", "replicator"])
def test_ordinary_names_are_not_reserved(name: str) -> None:
    assert not rules.is_reserved_account(name)
    assert rules.reserved_problem("x", name) == ""
    assert rules.reserved_problem("x", name, kit_accounts=[name]) != ""


def test_nesting() -> None:
    assert rules.within("/var/lib/app/x/../x/public", "/var/lib/app")
    assert not rules.within("/var/lib/application", "/var/lib/app")
    assert rules.nesting_problems({"a": "/srv/a", "b": "/srv/a/b", "c": "/srv/c"}) == [
        "a (/srv/a) and b (/srv/a/b) must not be the same directory or lie inside each other: each is private "
        "to its owner."]


def test_one_rule_set_for_the_three_roles() -> None:
    """The weak-cipher, placeholder and length rules are the shared ones, not copies."""
    assert php_session_app.WEAK_CIPHERS_RE is rules.WEAK_CIPHERS_RE
    assert postgresql_session_store.PLACEHOLDER_RE is rules.PLACEHOLDER_RE
    assert redis_session_store.MIN_PASSWORD_LENGTH == postgresql_session_store.MIN_PASSWORD == rules.MIN_PASSWORD_LENGTH
    for weak in ("ALL", "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0", "RC4-SHA", "ECDHE-RSA-AES128-GCM-SHA256\n"):
        assert rules.weak_ciphers(weak)
        assert postgresql_session_store.weak_ciphers(weak)
        assert redis_session_store._cipher_problems("c", weak)


def test_groups() -> None:
    assert rules.groups_problems("g", "X25519:prime256v1:secp384r1") == []
    for bad in ("X25519\nMinProtocol = TLSv1", "X25519; autoindex on", "X25519 P-256", ""):
        assert rules.groups_problems("g", bad)


def test_redis_passwords_refuse_whitespace_and_quotes() -> None:
    base = {"min_password_length": 16, "admin_user": "kitadmin", "app_commands": ["get"],
            "tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256", "tls_ciphersuites": "TLS_AES_128_GCM_SHA256",
            "app_users": [], "ha": True, "replication_password": "R" * 24, "sentinel_password": "S" * 24,
            "check_password": "C" * 24}
    assert redis_session_store.problems({**base, "admin_password": "A" * 24}) == []
    for bad in ("A" * 12 + " " + "A" * 12, '"' + "A" * 24, "A" * 24 + "\n"):
        errors = redis_session_store.problems({**base, "admin_password": bad})
        assert len(errors) == 1 and errors[0].startswith("redis_session_store_admin_password"), errors
        assert bad not in errors[0]
