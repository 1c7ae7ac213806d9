"""redis_session_store: bad inventory input fails before any host is touched, naming the variable.

Each case runs the role against a host that cannot be reached (see
role_validation): a correct role fails on the control node with a message
naming the variable; one that let the value through fails later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from role_validation import GOOD_CIPHERS, GOOD_REDIS, Cases, case_vars, check_passes_validation, check_refused_early

ROLE = "redis_session_store"

# A complete HA setting (its group is too small on the validation host).
GOOD_HA: dict[str, Any] = {
    "redis_session_store_ha": True,
    "redis_session_store_ha_group": "all",
    "redis_session_store_replication_password": "R" * 24,
    "redis_session_store_sentinel_password": "S" * 24,
    "redis_session_store_check_password": "C" * 24,
}


# Bring your own certificate with files that exist on the control node.
EXISTING = Path(__file__).resolve()
PROVIDED: dict[str, Any] = {"session_pki_mode": "provided", "session_pki_provided_ca_cert": str(EXISTING),
                            "session_pki_provided_cert": str(EXISTING), "session_pki_provided_key": str(EXISTING)}


# The exporter on (redis_session_store_metrics_enabled), complete.
METRICS: dict[str, Any] = {"redis_session_store_metrics_enabled": True,
                           "redis_session_store_metrics_password": "M" * 24}


def _redis_user(**override: Any) -> dict[str, Any]:
    """GOOD_REDIS with its one app user changed."""
    return {"redis_session_store_app_users": [{**GOOD_REDIS["redis_session_store_app_users"][0], **override}]}


REDIS_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown TLS client mode": ({"redis_session_store_tls_auth_clients": "maybe"},
                                "redis_session_store_tls_auth_clients"),
    "empty admin password": ({"redis_session_store_admin_password": ""}, "redis_session_store_admin_password"),
    "short app password": ({"redis_session_store_app_users": [{"name": "a", "password": "x", "key_prefix": "a:"}]},
                           "redis_session_store_app_users"),
    "user without key prefix": ({"redis_session_store_app_users": [{"name": "a", "password": "B" * 24}]},
                                "key_prefix"),
    "glob in key prefix": ({"redis_session_store_app_users": [{"name": "a", "password": "B" * 24,
                                                                "key_prefix": "*"}]},
                           "redis_session_store_app_users"),
    "port out of range": ({"redis_session_store_tls_port": 70000}, "redis_session_store_tls_port"),
    # Bring your own certificate: session_pki's interface, as for every role.
    "missing provided certificate": ({**PROVIDED, "session_pki_provided_cert": "/nonexistent/cert.pem"},
                                     "session_pki_provided_cert must name"),
    "provided key not set": ({**PROVIDED, "session_pki_provided_key": ""}, "session_pki_provided_key must name"),
    # Redis's own interface is gone: refused, naming its replacement.
    **{f"removed variable {old}={value!r}": ({old: value}, f"{old} was removed: use {new}")
       for old, value, new in (("redis_session_store_tls_source", "provided", "session_pki_mode"),
                               ("redis_session_store_tls_source", "pki", "session_pki_mode"),
                               ("redis_session_store_tls_ca_cert_src", str(EXISTING), "session_pki_provided_ca_cert"),
                               ("redis_session_store_tls_cert_src", str(EXISTING), "session_pki_provided_cert"),
                               ("redis_session_store_tls_key_src", "", "session_pki_provided_key"))},
    "evicting keys without TTL": ({"redis_session_store_maxmemory_policy": "allkeys-lru"},
                                  "redis_session_store_maxmemory_policy"),
    # Session size bound (proto-max-bulk-len): the servers refuse < 1mb; > 32mb is no session.
    **{f"session size {size!r}": ({"redis_session_store_max_session_size": size},
                                  "redis_session_store_max_session_size must be a size from 1mb to 32mb")
       for size in ("512kb", "1m", "33mb", "1gb", "0", "", "1 mb", "1mb\nenable-debug-command yes", "-1mb")},
    "session size above maxmemory": ({"redis_session_store_max_session_size": "16mb",
                                      "redis_session_store_maxmemory": "8mb"},
                                     "redis_session_store_max_session_size (16mb) must not exceed"),
    # Tenants share the store's memory: a second app user only when the inventory accepts it.
    "two tenants without accepting shared memory": ({"redis_session_store_app_users": [
        {"name": "a", "password": "B" * 24, "key_prefix": "a:"},
        {"name": "b", "password": "C" * 24, "key_prefix": "b:"}]},
        "set redis_session_store_accept_shared_memory: true"),
    "two tenants, sharing not a boolean": ({"redis_session_store_accept_shared_memory": "maybe"},
                                           "redis_session_store_accept_shared_memory"),
    "user named like the script loader user": (_redis_user(name="kit-script-load"),
                                               "redis_session_store_app_users[0] (kit-script-load).name"),
    "admin named like the script loader user": ({"redis_session_store_admin_user": "kit-script-load"},
                                                "redis_session_store_admin_user"),
    "EVALSHA granted outside locking": (_redis_user(commands=["get", "set", "evalsha"]),
                                        "redis_session_store_app_users[0] (app).commands"),
    "SCRIPT granted": (_redis_user(commands=["get", "script|load"]), "redis_session_store_app_users[0] (app).commands"),
    # A tab splits the ACL rule: "~app:<TAB>~*" would grant every key.
    "tab in key prefix": (_redis_user(key_prefix="app:\t~"), "redis_session_store_app_users[0] (app).key_prefix"),
    "space in key prefix": (_redis_user(key_prefix="app: ~"), "redis_session_store_app_users[0] (app).key_prefix"),
    "trailing newline in key prefix": (_redis_user(key_prefix="app:sess:\n"),
                                       "redis_session_store_app_users[0] (app).key_prefix"),
    "ACL metacharacter in key prefix": (_redis_user(key_prefix="app:%R~"),
                                        "redis_session_store_app_users[0] (app).key_prefix"),
    "tab in user name": (_redis_user(name="app\t+@all"), "redis_session_store_app_users[0].name"),
    "trailing newline in user name": (_redis_user(name="app\n"), "redis_session_store_app_users[0].name"),
    "ACL metacharacter in user name": (_redis_user(name="app>x"), "redis_session_store_app_users[0].name"),
    "user named like the TLS reload user": (_redis_user(name="kit-tls-reload"),
                                            "redis_session_store_app_users[0] (kit-tls-reload).name"),
    "user named like the credential rotation user": (_redis_user(name="kit-acl-rotate"),
                                                     "redis_session_store_app_users[0] (kit-acl-rotate).name"),
    "overlapping key prefixes": ({"redis_session_store_app_users": [
        {"name": "shop", "password": "B" * 24, "key_prefix": "shop:"},
        {"name": "shop2", "password": "C" * 24, "key_prefix": "shop:eu:"}]},
        "redis_session_store_app_users[0] (shop).key_prefix"),
    "equal key prefixes": ({"redis_session_store_app_users": [
        {"name": "a", "password": "B" * 24, "key_prefix": "s:"},
        {"name": "b", "password": "C" * 24, "key_prefix": "s:"}]},
        "redis_session_store_app_users[0] (a).key_prefix"),
    "duplicate user name": ({"redis_session_store_app_users": [
        {"name": "a", "password": "B" * 24, "key_prefix": "a:"},
        {"name": "a", "password": "C" * 24, "key_prefix": "b:"}]},
        "redis_session_store_app_users holds the user name 'a' twice"),
    **{f"app command {c}": (_redis_user(commands=["get", c]), "redis_session_store_app_users[0] (app).commands")
       for c in ("keys", "scan", "config", "config|get", "flushall", "flushdb", "debug", "monitor", "acl",
                 "+@all", "@dangerous", "get ~*")},
    "default command list with FLUSHALL": ({"redis_session_store_app_commands": ["get", "set", "flushall"]},
                                           "redis_session_store_app_commands"),
    "EVAL granted outside locking": (_redis_user(commands=["get", "set", "eval"]),
                                     "redis_session_store_app_users[0] (app).commands"),
    "locking not a boolean": (_redis_user(locking="no"), "redis_session_store_app_users[0] (app).locking"),
    "min password length below 16": ({"redis_session_store_min_password_length": 8},
                                     "redis_session_store_min_password_length"),
    "weak TLS 1.2 ciphers": ({"redis_session_store_tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ALL"},
                             "redis_session_store_tls_ciphers"),
    "NULL cipher": ({"redis_session_store_tls_ciphers": "ECDHE-RSA-NULL-SHA"}, "redis_session_store_tls_ciphers"),
    "low security level": ({"redis_session_store_tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=1"},
                           "redis_session_store_tls_ciphers"),
    "weak TLS 1.3 suites": ({"redis_session_store_tls_ciphersuites": "TLS_AES_128_GCM_SHA256:DEFAULT"},
                            "redis_session_store_tls_ciphersuites"),
    "placeholder admin password": ({"redis_session_store_admin_password": "CHANGE-ME-redis-admin-password"},
                                   "redis_session_store_admin_password"),
    "placeholder app password": (_redis_user(password="change-me-please-0123456789"),
                                 "redis_session_store_app_users[0] (app).password"),
    # HA group (the validation host's group holds one host only).
    "HA group of one host": ({**GOOD_HA}, "redis_session_store_ha needs the group redis_session_store_ha_group"),
    "HA without replication password": ({**GOOD_HA, "redis_session_store_replication_password": ""},
                                        "redis_session_store_replication_password"),
    "HA placeholder Sentinel password": ({**GOOD_HA,
                                          "redis_session_store_sentinel_password": "CHANGE-ME-sentinel-0123"},
                                         "redis_session_store_sentinel_password"),
    "HA short check password": ({**GOOD_HA, "redis_session_store_check_password": "short"},
                                "redis_session_store_check_password"),
    "HA replication password equal to the admin's": ({**GOOD_HA, "redis_session_store_replication_password": "A" * 24},
                                                     "redis_session_store_replication_password"),
    "certificate lifetime over 366 days": ({"session_pki_cert_valid_days": 397}, "session_pki_cert_valid_days"),
    # Issue 22 item 7: strings that land on a line of redis.conf, sentinel.conf, users.acl or the
    # engine's OpenSSL config refuse control characters and the format's separators.
    **{f"{label} in the {what} password": (override, variable) for label, what, override, variable in (
        ("newline", "admin", {"redis_session_store_admin_password": "A" * 24 + "\nenable-debug-command yes"},
         "redis_session_store_admin_password"),
        ("space", "admin", {"redis_session_store_admin_password": "A" * 12 + " " + "A" * 12},
         "redis_session_store_admin_password"),
        ("NUL", "admin", {"redis_session_store_admin_password": "A" * 24 + "\0"}, "redis_session_store_admin_password"),
        ("opening quote", "app", _redis_user(password='"' + "B" * 24),
         "redis_session_store_app_users[0] (app).password"),
        ("tab", "app", _redis_user(password="B" * 12 + "\t" + "B" * 12),
         "redis_session_store_app_users[0] (app).password"),
        ("newline", "replication", {**GOOD_HA, "redis_session_store_replication_password":
                                    "R" * 24 + "\nenable-debug-command yes"},
         "redis_session_store_replication_password"),
        ("space", "replication", {**GOOD_HA, "redis_session_store_replication_password": "R" * 12 + " " + "R" * 12},
         "redis_session_store_replication_password"),
        ("carriage return", "Sentinel", {**GOOD_HA, "redis_session_store_sentinel_password": "S" * 24 + "\r"},
         "redis_session_store_sentinel_password"),
        ("space", "check", {**GOOD_HA, "redis_session_store_check_password": "C" * 12 + " " + "C" * 12},
         "redis_session_store_check_password"))},
    "newline in the TLS groups": ({"redis_session_store_tls_groups": "X25519\nMinProtocol = TLSv1"},
                                  "redis_session_store_tls_groups"),
    "security level in the TLS groups": ({"redis_session_store_tls_groups": "X25519 CipherString=@SECLEVEL=0"},
                                         "redis_session_store_tls_groups"),
    "trailing newline in the cipher list": ({"redis_session_store_tls_ciphers": GOOD_CIPHERS + "\n"},
                                            "redis_session_store_tls_ciphers"),
    "newline in a bind address": ({"redis_session_store_bind": ["127.0.0.1\nenable-debug-command yes"]},
                                  "redis_session_store_bind[0]"),
    "newline in the admin rules": ({"redis_session_store_admin_rules": "~* +@all\nenable-debug-command yes"},
                                   "redis_session_store_admin_rules"),
    "quote in the save setting": ({"redis_session_store_save": '3600 1"\nenable-debug-command "yes'},
                                  "redis_session_store_save"),
    "newline in the HA group": ({**GOOD_HA, "redis_session_store_ha_group": "all\nenable-debug-command yes"},
                                "redis_session_store_ha_group must not contain control characters"),
    "renewal window not below the lifetime": ({"session_pki_cert_valid_days": 30, "session_pki_renew_days": 30},
                                              "session_pki_renew_days"),
    # Metrics (issue 26): the exporter's ACL user and its settings file.
    "metrics without a password": ({**METRICS, "redis_session_store_metrics_password": ""},
                                   "redis_session_store_metrics_password"),
    "metrics password with a quote": ({**METRICS, "redis_session_store_metrics_password": "M" * 20 + '"\nX=1'},
                                      "redis_session_store_metrics_password"),
    "metrics password with a space": ({**METRICS, "redis_session_store_metrics_password": "M" * 12 + " " + "M" * 12},
                                      "redis_session_store_metrics_password"),
    "metrics user named like the admin": ({**METRICS, "redis_session_store_metrics_user": "kitadmin"},
                                          "redis_session_store_metrics_user"),
    "metrics user with a space": ({**METRICS, "redis_session_store_metrics_user": "kit metrics +@all"},
                                  "redis_session_store_metrics_user"),
    "metrics port out of range": ({**METRICS, "redis_session_store_metrics_port": 0},
                                  "redis_session_store_metrics_port"),
    "metrics without a client certificate on an mTLS store": (
        {**METRICS, **PROVIDED, "redis_session_store_tls_auth_clients": "yes"}, "redis_session_store_tls_auth_clients"),
}
CASES = [(ROLE, name, *case) for name, case in REDIS_CASES.items()]
GOOD_MEMORY: dict[str, dict[str, Any]] = {
    "32mb sessions": {"redis_session_store_max_session_size": "32mb"},
    "1 MiB in bytes": {"redis_session_store_max_session_size": "1048576"},
    "two tenants, sharing accepted": {"redis_session_store_accept_shared_memory": True,
                                      "redis_session_store_app_users": [
                                          {"name": "a", "password": "B" * 24, "key_prefix": "a:"},
                                          {"name": "b", "password": "C" * 24, "key_prefix": "b:"}]},
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    """Every case of this module, run together once (role_validation.Cases)."""
    return Cases(tmp_path_factory.mktemp("redis-validation"), ROLE, {
        **{name: case_vars(GOOD_REDIS, override) for name, (override, _) in REDIS_CASES.items()},
        "control: good input": dict(GOOD_REDIS),
        **{f"control: {name}": case_vars(GOOD_REDIS, override) for name, override in GOOD_MEMORY.items()},
        "control: provided certificates": case_vars(GOOD_REDIS, PROVIDED),
        "control: metrics": case_vars(GOOD_REDIS, METRICS),
    })


@pytest.mark.parametrize(("role", "case", "override", "variable"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_fails_early(outcomes: Cases, role: str, case: str, override: dict[str, Any],
                               variable: str) -> None:
    check_refused_early(outcomes[case], case, variable)


@pytest.mark.parametrize("role", [ROLE])
def test_good_input_passes_validation(outcomes: Cases, role: str) -> None:
    """Control: valid input gets past validation and fails only later."""
    check_passes_validation(outcomes["control: good input"])


@pytest.mark.parametrize("name", list(GOOD_MEMORY))
def test_good_memory_settings_pass_validation(outcomes: Cases, name: str) -> None:
    """Control for the memory rows: the bounds themselves and accepted sharing get past validation."""
    check_passes_validation(outcomes[f"control: {name}"])


def test_provided_certificates_pass_validation(outcomes: Cases) -> None:
    """Control: session_pki's bring-your-own interface with existing files gets past validation."""
    check_passes_validation(outcomes["control: provided certificates"])


def test_metrics_pass_validation(outcomes: Cases) -> None:
    """Control for the metrics rows: the exporter with a good password and the defaults gets past validation."""
    check_passes_validation(outcomes["control: metrics"])
