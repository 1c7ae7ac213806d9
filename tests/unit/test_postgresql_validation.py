"""postgresql_session_store: bad inventory input fails before any host is touched, naming the variable.

Each case runs the role against a host that cannot be reached (see
role_validation): a correct role fails on the control node with a message
naming the variable; one that let the value through fails later.
"""

from __future__ import annotations

from typing import Any

import pytest
from role_validation import Cases, case_vars, check_passes_validation, check_refused_early

ROLE = "postgresql_session_store"

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

# The exporter on (postgresql_session_store_metrics_enabled), complete.
METRICS: dict[str, Any] = {"postgresql_session_store_metrics_enabled": True,
                           "postgresql_session_store_metrics_password": "M" * 24}

PG_CASES: dict[str, tuple[dict[str, Any], str]] = {
    # Issue 22 item 7: reserved system accounts (the GC role is a system user too).
    **{f"{var} is the system account {name}": ({f"postgresql_session_store_{var}": name},
                                               f"postgresql_session_store_{var}")
       for var, name in (("gc_role", "nobody"), ("gc_role", "daemon"), ("gc_role", "redis"), ("gc_role", "etcd"),
                         ("owner_role", "haproxy"), ("app_role", "nginx"))},
    "an app named like a system account": (pg_apps({"name": "valkey", "password": "V" * 24}),
                                           "postgresql_session_store_apps[2].name"),
    # ... and control characters in what lands in postgresql.conf (or Patroni's parameters).
    "newline in an extra setting": ({"postgresql_session_store_extra_settings": {"work_mem": "4MB\nssl = off"}},
                                    "postgresql_session_store_extra_settings.work_mem"),
    "newline in the log line prefix": ({"postgresql_session_store_log_line_prefix": "%m %u@%d %h \nssl = off"},
                                       "postgresql_session_store_log_line_prefix"),
    "newline in an app role setting": ({"postgresql_session_store_app_role_settings": {"work_mem": "4MB\nx"}},
                                       "postgresql_session_store_app_role_settings.work_mem"),
    "tab in an app password": (pg_apps({"name": "extra", "password": "X" * 12 + "\t" + "X" * 12}),
                               "postgresql_session_store_apps[2].password"),
    "space in the client host": ({"postgresql_session_store_client_host": "db.example.org evil"},
                                 "postgresql_session_store_client_host"),
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
    # Issue 22 item 7: an app's second login role (NAME_b, rotation) as replication or rewind role.
    "HA replication role = an app's second login role": ({**GOOD_PG_HA,
                                                          "postgresql_session_store_replication_role": "shop_b"},
                                                         "postgresql_session_store_replication_role"),
    "HA rewind role = the single app's second login role": ({**GOOD_PG_HA,
                                                             "postgresql_session_store_rewind_role": "session_app_b"},
                                                            "postgresql_session_store_rewind_role"),
    "HA address with a newline": ({**GOOD_PG_HA, "postgresql_session_store_ha_address":
                                   "10.0.0.1\nETCD_CLIENT_CERT_AUTH=false"}, "postgresql_session_store_ha_address"),
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
    # connection limits (issue 22, item 6): every app role limited, the limits fit max_connections
    "no connection limit (-1)": ({"postgresql_session_store_app_connection_limit": -1},
                                 "postgresql_session_store_app_connection_limit"),
    "an app without connections": (pg_apps({"name": "idle", "password": "I" * 24, "connection_limit": 0}),
                                   "postgresql_session_store_apps[2] (idle).connection_limit"),
    "limits over max_connections": ({"postgresql_session_store_app_connection_limit": 40},
                                    "postgresql_session_store_max_connections (100)"),
    "limits over a lowered max_connections": ({"postgresql_session_store_max_connections": 60},
                                              "postgresql_session_store_max_connections (60)"),
    "superuser reserve leaves no room": ({"postgresql_session_store_extra_settings":
                                          {"superuser_reserved_connections": 40}},
                                         "superuser_reserved_connections (40)"),
    # Bring your own certificate (session_pki's interface, shared by every role): the files must exist.
    "missing provided certificate": ({"session_pki_mode": "provided", "session_pki_provided_ca_cert": __file__,
                                      "session_pki_provided_cert": "/nonexistent/cert.pem",
                                      "session_pki_provided_key": __file__}, "session_pki_provided_cert must name"),
    # Metrics (issue 26): the exporter's login role and its connection string.
    "metrics without a password": ({**METRICS, "postgresql_session_store_metrics_password": ""},
                                   "postgresql_session_store_metrics_password"),
    "metrics password with a quote": (
        {**METRICS, "postgresql_session_store_metrics_password": "M" * 20 + "' sslmode=disable"},
        "postgresql_session_store_metrics_password"),
    "metrics password with a space": (
        {**METRICS, "postgresql_session_store_metrics_password": "M" * 12 + " sslmode=disable"},
        "postgresql_session_store_metrics_password"),
    "metrics role named like the owner": ({**METRICS, "postgresql_session_store_metrics_role": "session_owner"},
                                          "postgresql_session_store_metrics_role"),
    "metrics role named like postgres": ({**METRICS, "postgresql_session_store_metrics_role": "postgres"},
                                         "postgresql_session_store_metrics_role"),
    "metrics role with upper case": ({**METRICS, "postgresql_session_store_metrics_role": "Monitor"},
                                     "postgresql_session_store_metrics_role"),
    "metrics port equal to the server's": ({**METRICS, "postgresql_session_store_metrics_port": 5432},
                                           "postgresql_session_store_metrics_port"),
}
CASES = [(ROLE, name, *case) for name, case in PG_CASES.items()]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    """Every case of this module, run together once (role_validation.Cases)."""
    return Cases(tmp_path_factory.mktemp("postgresql-validation"), ROLE, {
        **{name: case_vars(GOOD_PG, override) for name, (override, _) in PG_CASES.items()},
        "control: good input": dict(GOOD_PG),
        "control: metrics": case_vars(GOOD_PG, METRICS),
    })


@pytest.mark.parametrize(("role", "case", "override", "variable"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_fails_early(outcomes: Cases, role: str, case: str, override: dict[str, Any],
                               variable: str) -> None:
    check_refused_early(outcomes[case], case, variable)


@pytest.mark.parametrize("role", [ROLE])
def test_good_input_passes_validation(outcomes: Cases, role: str) -> None:
    """Control: valid input gets past validation and fails only later."""
    check_passes_validation(outcomes["control: good input"])


def test_metrics_pass_validation(outcomes: Cases) -> None:
    """Control for the metrics rows: the exporter with a good password and the defaults gets past validation."""
    check_passes_validation(outcomes["control: metrics"])
