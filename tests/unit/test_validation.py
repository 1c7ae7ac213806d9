"""Bad inventory input fails before any host is touched, naming the variable.

Each case runs the role against a host that cannot be reached (nothing
listens on its port). Argument specs and assert tasks run on the control node,
so a correct role fails with a message naming the variable and never tries to
connect; a role that let the value through would get past validation and fail
later: at its first fact-dependent step (no facts are gathered here) or at the
first remote task (the host is UNREACHABLE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "validation" / "play.yml"

GOOD_REDIS: dict[str, Any] = {
    "redis_session_store_admin_password": "A" * 24,
    "redis_session_store_app_users": [{"name": "app", "password": "B" * 24, "key_prefix": "app:sess:"}],
}


# A complete HA setting (its group is too small on the validation host).
GOOD_HA: dict[str, Any] = {
    "redis_session_store_ha": True,
    "redis_session_store_ha_group": "all",
    "redis_session_store_replication_password": "R" * 24,
    "redis_session_store_sentinel_password": "S" * 24,
    "redis_session_store_check_password": "C" * 24,
}


PAST_VALIDATION = ("UNREACHABLE", "has no attribute 'distribution'")


def _redis_user(**override: Any) -> dict[str, Any]:
    """GOOD_REDIS with its one app user changed."""
    return {"redis_session_store_app_users": [{**GOOD_REDIS["redis_session_store_app_users"][0], **override}]}


def run_role(tmp_path: Path, role: str, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    target:\n      ansible_host: 127.0.0.1\n      ansible_port: 9\n"
        "      ansible_connection: ssh\n      ansible_ssh_common_args: -o ConnectTimeout=2\n"
    )
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps({"role_under_test": role, **extra}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(playbook), "-i", str(inventory), str(PLAY), "-e", f"@{extra_vars}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )


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
    "missing cert path": ({"redis_session_store_tls_source": "provided",
                           "redis_session_store_tls_cert_src": "/nonexistent/cert.pem"},
                          "redis_session_store_tls_cert_src"),
    "evicting keys without TTL": ({"redis_session_store_maxmemory_policy": "allkeys-lru"},
                                  "redis_session_store_maxmemory_policy"),
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
    "renewal window not below the lifetime": ({"session_pki_cert_valid_days": 30, "session_pki_renew_days": 30},
                                              "session_pki_renew_days"),
}


GOOD_PG: dict[str, Any] = {
    "postgresql_session_store_apps": [{"name": "shop", "password": "S" * 24},
                                      {"name": "ledger", "password": "L" * 24, "table": "ledger_sessions"}],
    "postgresql_session_store_app_password": "A" * 24,
}
PG_APPS = "postgresql_session_store_apps"
SCRAM_VERIFIER = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"


def pg_apps(*extra: dict[str, Any]) -> dict[str, Any]:
    """GOOD_PG's apps plus ``extra`` entries."""
    return {PG_APPS: [*GOOD_PG[PG_APPS], *extra]}


GOOD_PG_HA: dict[str, Any] = {
    "postgresql_session_store_ha": True,
    "postgresql_session_store_replication_password": "R" * 24,
    "postgresql_session_store_rewind_password": "W" * 24,
    "postgresql_session_store_patroni_api_password": "P" * 24,
}

PG_CASES: dict[str, tuple[dict[str, Any], str]] = {
    # high availability
    "HA on a single host": (GOOD_PG_HA, "postgresql_session_store_ha"),
    "HA without a replication password": ({**GOOD_PG_HA, "postgresql_session_store_replication_password": ""},
                                           "postgresql_session_store_replication_password"),
    "HA placeholder rewind password": ({**GOOD_PG_HA,
                                        "postgresql_session_store_rewind_password": "change-me-rewind-12345"},
                                       "postgresql_session_store_rewind_password"),
    "HA placeholder REST API password": ({**GOOD_PG_HA,
                                          "postgresql_session_store_patroni_api_password": "CHANGE-ME-patroni-1234"},
                                         "postgresql_session_store_patroni_api_password"),
    "HA replication role = an app role": ({**GOOD_PG_HA, "postgresql_session_store_replication_role": "shop"},
                                          "postgresql_session_store_replication_role"),
    "HA ttl below 20": ({**GOOD_PG_HA, "postgresql_session_store_ha_ttl": 10}, "postgresql_session_store_ha_ttl"),
    "HA loop_wait + 2 retry over ttl": ({**GOOD_PG_HA, "postgresql_session_store_ha_loop_wait": 15},
                                        "postgresql_session_store_ha_loop_wait"),
    "unknown ssl mode": ({"postgresql_session_store_clientcert": "required"}, "postgresql_session_store_clientcert"),
    "malformed CIDR": ({"postgresql_session_store_app_cidrs": ["10.0.0.300/24"]}, "postgresql_session_store_app_cidrs"),
    "host bits set": ({"postgresql_session_store_app_cidrs": ["10.0.0.1/24"]}, "postgresql_session_store_app_cidrs"),
    "CIDR without prefix": ({"postgresql_session_store_app_cidrs": ["10.0.0.1"]}, "postgresql_session_store_app_cidrs"),
    "no app at all": ({PG_APPS: [], "postgresql_session_store_app_password": None},
                      "postgresql_session_store_app_password"),
    "short legacy password": ({"postgresql_session_store_app_password": "short"},
                              "postgresql_session_store_app_password"),
    "unknown TLS version": ({"postgresql_session_store_ssl_min_protocol_version": "TLSv1.1"},
                            "postgresql_session_store_ssl_min_protocol_version"),
    "auth timeout over 60 s": ({"postgresql_session_store_authentication_timeout": 120},
                               "postgresql_session_store_authentication_timeout"),
    "weak ciphers": ({"postgresql_session_store_ssl_ciphers": "ALL:!ADH"}, "postgresql_session_store_ssl_ciphers"),
    "3DES cipher": ({"postgresql_session_store_ssl_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-DES-CBC3-SHA"},
                    "postgresql_session_store_ssl_ciphers"),
    "eNULL cipher": ({"postgresql_session_store_ssl_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:eNULL"},
                     "postgresql_session_store_ssl_ciphers"),
    "SECLEVEL 0": ({"postgresql_session_store_ssl_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"},
                   "postgresql_session_store_ssl_ciphers"),
    "bad role name": ({"postgresql_session_store_app_role": "app; DROP"}, "postgresql_session_store_app_role"),
    "role name with trailing newline": ({"postgresql_session_store_app_role": "app\n"},
                                        "postgresql_session_store_app_role"),
    "overriding a managed setting": ({"postgresql_session_store_extra_settings": {"ssl": False}},
                                     "postgresql_session_store_extra_settings"),
    "bad listen address": ({"postgresql_session_store_listen_addresses": ["a b"]},
                           "postgresql_session_store_listen_addresses"),
    "logging every statement": ({"postgresql_session_store_log_statement": "all"},
                                "postgresql_session_store_log_statement"),
    # log_directory
    "relative log directory": ({"postgresql_session_store_log_directory": "pglog"},
                               "postgresql_session_store_log_directory"),
    "log directory with ..": ({"postgresql_session_store_log_directory": "/var/log/pg/../../../etc"},
                              "postgresql_session_store_log_directory"),
    "log directory /": ({"postgresql_session_store_log_directory": "/"}, "postgresql_session_store_log_directory"),
    "log directory under /etc": ({"postgresql_session_store_log_directory": "/etc/postgresql/logs"},
                                 "postgresql_session_store_log_directory"),
    "log directory under /usr": ({"postgresql_session_store_log_directory": "/usr/local/pglog"},
                                 "postgresql_session_store_log_directory"),
    "log directory under /lib64": ({"postgresql_session_store_log_directory": "/lib64/x"},
                                   "postgresql_session_store_log_directory"),
    "log directory under /tmp": ({"postgresql_session_store_log_directory": "/tmp/pglog"},
                                 "postgresql_session_store_log_directory"),
    "log directory under /run": ({"postgresql_session_store_log_directory": "/run/postgresql/log"},
                                 "postgresql_session_store_log_directory"),
    "log directory in the data directory": ({"postgresql_session_store_log_directory":
                                             "/var/lib/postgresql/17/main/log"},
                                            "postgresql_session_store_log_directory"),
    "log directory /var/log": ({"postgresql_session_store_log_directory": "/var/log"},
                               "postgresql_session_store_log_directory"),
    "log directory with a trailing newline": ({"postgresql_session_store_log_directory": "/var/log/pg\n"},
                                              "postgresql_session_store_log_directory"),
    # settings that would log statements or parameters
    "extra: log_statement all": ({"postgresql_session_store_extra_settings": {"log_statement": "all"}},
                                 "postgresql_session_store_extra_settings"),
    "extra: log_min_duration_statement 0": ({"postgresql_session_store_extra_settings":
                                             {"log_min_duration_statement": 0}},
                                            "postgresql_session_store_extra_settings"),
    "extra: log_min_duration_sample 250ms": ({"postgresql_session_store_extra_settings":
                                              {"log_min_duration_sample": "250ms"}},
                                             "postgresql_session_store_extra_settings"),
    "extra: log_min_error_statement error": ({"postgresql_session_store_extra_settings":
                                              {"log_min_error_statement": "error"}},
                                             "postgresql_session_store_extra_settings"),
    "extra: log_parameter_max_length -1": ({"postgresql_session_store_extra_settings":
                                            {"log_parameter_max_length": -1}},
                                           "postgresql_session_store_extra_settings"),
    "extra: log_parameter_max_length_on_error 64": ({"postgresql_session_store_extra_settings":
                                                     {"log_parameter_max_length_on_error": 64}},
                                                    "postgresql_session_store_extra_settings"),
    "extra: log_duration": ({"postgresql_session_store_extra_settings": {"log_duration": True}},
                            "postgresql_session_store_extra_settings"),
    "extra: debug_print_plan": ({"postgresql_session_store_extra_settings": {"debug_print_plan": "on"}},
                                "postgresql_session_store_extra_settings"),
    "extra: auto_explain": ({"postgresql_session_store_extra_settings": {"auto_explain.log_min_duration": 0}},
                            "postgresql_session_store_extra_settings"),
    "per role: log_statement mod": ({"postgresql_session_store_app_role_settings": {"log_statement": "mod"}},
                                    "postgresql_session_store_app_role_settings"),
    "per role: log_min_error_statement warning": ({"postgresql_session_store_app_role_settings":
                                                   {"log_min_error_statement": "warning"}},
                                                  "postgresql_session_store_app_role_settings"),
    "per role: log_error_verbosity verbose": ({"postgresql_session_store_app_role_settings":
                                               {"log_error_verbosity": "verbose"}},
                                              "postgresql_session_store_app_role_settings"),
    # passwords
    "md5 verifier as password": (pg_apps({"name": "blog", "password": "md5" + "0123456789abcdef" * 2}),
                                 "postgresql_session_store_apps[2].password"),
    "SCRAM verifier as password": (pg_apps({"name": "blog", "password": SCRAM_VERIFIER}),
                                   "postgresql_session_store_apps[2].password"),
    "SCRAM verifier as legacy password": ({"postgresql_session_store_app_password": SCRAM_VERIFIER},
                                          "postgresql_session_store_app_password"),
    "placeholder password": (pg_apps({"name": "blog", "password": "CHANGE-ME-blog-password-123"}),
                             "postgresql_session_store_apps[2].password"),
    "placeholder legacy password": ({"postgresql_session_store_app_password": "change-me-please-0123456789"},
                                    "postgresql_session_store_app_password"),
    "short app password": (pg_apps({"name": "blog", "password": "short"}),
                           "postgresql_session_store_apps[2].password"),
    # apps
    "app name with a space": (pg_apps({"name": "my app", "password": "B" * 24}), "postgresql_session_store_apps[2]"),
    "app name with a trailing newline": (pg_apps({"name": "blog\n", "password": "B" * 24}),
                                         "postgresql_session_store_apps[2]"),
    "app name upper case": (pg_apps({"name": "Blog", "password": "B" * 24}), "postgresql_session_store_apps[2]"),
    "app named like the owner role": (pg_apps({"name": "session_owner", "password": "B" * 24}),
                                      "postgresql_session_store_apps[2]"),
    "app named postgres": (pg_apps({"name": "postgres", "password": "B" * 24}), "postgresql_session_store_apps[2]"),
    "app named pg_*": (pg_apps({"name": "pg_monitor", "password": "B" * 24}), "postgresql_session_store_apps[2]"),
    "bad app table": (pg_apps({"name": "blog", "password": "B" * 24, "table": "x; DROP TABLE y"}),
                      "postgresql_session_store_apps[2]"),
    "duplicate app name": (pg_apps({"name": "shop", "password": "B" * 24, "table": "other"}),
                           "postgresql_session_store_apps"),
    "duplicate app table": (pg_apps({"name": "blog", "password": "B" * 24, "table": "ledger_sessions"}),
                            "postgresql_session_store_apps"),
    "app table = legacy table": (pg_apps({"name": "blog", "password": "B" * 24, "table": "session_data"}),
                                 "postgresql_session_store_apps"),
    "app name = legacy role": (pg_apps({"name": "session_app", "password": "B" * 24}), "postgresql_session_store_apps"),
    "unknown app key": (pg_apps({"name": "blog", "password": "B" * 24, "prefix": "x"}), PG_APPS),
    "absolute below idle": (pg_apps({"name": "blog", "password": "B" * 24, "idle_timeout": 600,
                                     "absolute_timeout": 300}), "postgresql_session_store_apps[2]"),
    "role absolute below idle": ({"postgresql_session_store_absolute_timeout": 60},
                                 "postgresql_session_store_absolute_timeout"),
    "certificate lifetime over 366 days": ({"session_pki_cert_valid_days": 397}, "session_pki_cert_valid_days"),
}


GOOD_INPUT: dict[str, dict[str, Any]] = {
    "redis_session_store": GOOD_REDIS,
    "postgresql_session_store": GOOD_PG,
}
CASES = [(role, name, *case) for role, table in (("redis_session_store", REDIS_CASES),
                                                 ("postgresql_session_store", PG_CASES))
         for name, case in table.items()]


@pytest.mark.parametrize(("role", "case", "override", "variable"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_fails_early(tmp_path: Path, role: str, case: str, override: dict[str, Any],
                               variable: str) -> None:
    # A None value removes the variable: "missing" rather than "empty".
    extra = {k: v for k, v in {**GOOD_INPUT[role], **override}.items() if v is not None}
    result = run_role(tmp_path, role, extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert variable in output, output[-2000:]
    assert not any(m in output for m in PAST_VALIDATION), f"{case}: validation let the value through: " + output[-2000:]


@pytest.mark.parametrize("role", list(GOOD_INPUT))
def test_good_input_passes_validation(tmp_path: Path, role: str) -> None:
    """Control: valid input gets past validation and fails only later."""
    result = run_role(tmp_path, role, GOOD_INPUT[role])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert any(m in output for m in PAST_VALIDATION), output[-2000:]


# CA rollover (session_pki_ca_rollover): the CA directory's state tells where
# a rollover stands; a step out of order is refused before any host change.
ROLLOVER_CASES: dict[str, tuple[str, list[str], bool]] = {
    "issue before trust": ("issue", [], False),
    "drop before issue": ("drop", ["ca.crt", "ca-next.crt"], False),
    "none during a rollover": ("none", ["ca.crt", "ca-next.crt"], False),
    "unknown step": ("rotate", [], False),
    "trust (control)": ("trust", ["ca.crt"], True),
    "drop after issue (control)": ("drop", ["ca.crt", "ca-next.crt", "ca-next.issuing"], True),
}


@pytest.mark.parametrize("case", list(ROLLOVER_CASES))
def test_ca_rollover_step_out_of_order_fails_early(tmp_path: Path, case: str) -> None:
    step, files, passes = ROLLOVER_CASES[case]
    ca_dir = tmp_path / "pki"
    ca_dir.mkdir()
    for name in files:
        (ca_dir / name).write_text("placeholder\n")
    result = run_role(tmp_path, "redis_session_store",
                      {**GOOD_REDIS, "session_pki_ca_rollover": step, "session_pki_ca_dir": str(ca_dir)})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    if passes:
        assert any(m in output for m in PAST_VALIDATION), output[-2000:]
    else:
        assert "session_pki_ca_rollover" in output, output[-2000:]
        assert not any(m in output for m in PAST_VALIDATION), f"{case}: let through: " + output[-2000:]
