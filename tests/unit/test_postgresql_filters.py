"""The PostgreSQL role's and the app role's pure filters: per-app entries, grants to revoke, app wiring."""

from __future__ import annotations

from typing import Any

from role_filters import load

PG = load("postgresql_session_store")
APP = load("php_session_app")


def test_deprecated_single_app_keeps_its_role_and_table() -> None:
    apps = PG.effective_apps([{"name": "shop", "password": "S" * 20}], "session_app", "P" * 20, "session_data",
                             1800, 28800)
    assert [(a["name"], a["table"], a["idle_timeout"], a["absolute_timeout"]) for a in apps] == [
        ("shop", "session_data_shop", 1800, 28800), ("session_app", "session_data", 1800, 28800)]
    assert PG.effective_apps([], "session_app", "", "session_data", 1800, 28800) == []


def test_extra_grants_cover_other_tables_public_and_extra_privileges() -> None:
    apps = [{"name": "shop", "table": "t_shop"}, {"name": "ledger", "table": "t_ledger"}]
    rows = [
        {"relname": "t_shop", "grantee": "shop", "privilege_type": p} for p in ("SELECT", "INSERT", "UPDATE", "DELETE")
    ] + [
        {"relname": "t_shop", "grantee": "session_gc", "privilege_type": "SELECT"},
        {"relname": "t_shop", "grantee": "session_owner", "privilege_type": "TRUNCATE"},
        {"relname": "t_shop", "grantee": "ledger", "privilege_type": "SELECT"},      # another app's table
        {"relname": "t_ledger", "grantee": "ledger", "privilege_type": "TRUNCATE"},  # beyond the contract
        {"relname": "t_ledger", "grantee": "PUBLIC", "privilege_type": "SELECT"},
        {"relname": "t_old", "grantee": "gone", "privilege_type": "SELECT"},         # a removed app
    ]
    assert PG.extra_grants(rows, apps, "session_gc", "session_owner") == [
        {"table": "t_ledger", "role": "PUBLIC", "privs": "SELECT"},
        {"table": "t_ledger", "role": "ledger", "privs": "TRUNCATE"},
        {"table": "t_old", "role": "gone", "privs": "SELECT"},
        {"table": "t_shop", "role": "ledger", "privs": "SELECT"},
    ]


def test_logging_settings() -> None:
    assert PG.logging_problems({"shared_buffers": "256MB", "log_statement": "ddl", "log_min_duration_statement": -1,
                                "log_min_error_statement": "panic", "log_parameter_max_length": 0}) == []
    assert PG.logging_problems({"log_min_duration_statement": "0ms", "log_duration": "on"}) == [
        "log_min_duration_statement=0ms", "log_duration=on"]
    assert PG.logging_problems({"log_error_verbosity": "default"}, True) == ["log_error_verbosity=default"]
    assert PG.logging_problems({"log_error_verbosity": "default"}) == []


def test_log_directory() -> None:
    assert PG.log_directory_problem("/var/log/postgresql/session-store") == ""
    assert PG.log_directory_problem("/srv/pglog") == ""
    for bad in ("/", "/etc", "/etc/pg", "/var/log", "/lib64/x", "/libexec/x", "/var/lib/postgresql/15/main/log",
                "/var/log/../etc", "/var/log/pg/", "rel", "/var/log/pg\n"):
        assert PG.log_directory_problem(bad), bad


def test_passwords() -> None:
    assert PG.password_problem("x" * 16) == ""
    for bad in ("", "short", "CHANGE-ME-0123456789abc", "md5" + "a" * 32, "SCRAM-SHA-256$4096:a$b:c"):
        assert PG.password_problem(bad), bad


PG_VIEW: dict[str, Any] = {
    "name": "pg1", "port": 5432, "server_port": 5432, "database": "sessions", "schema": "session_store",
    "clientcert": "verify-full", "ca_cert_local": "/ca.crt", "app_role": "shop",
    "apps": [{"name": "shop", "password": "S" * 20, "table": "session_data_shop", "idle_timeout": 1800,
              "absolute_timeout": 28800},
             {"name": "ledger", "password": "L" * 20, "table": "ledger_sessions", "idle_timeout": 900,
              "absolute_timeout": 7200}],
}
DEFAULTS = {"idle_timeout": 900, "absolute_timeout": 7200, "cookie_name_prefix": "__Host-", "cookie_samesite": "Strict",
            "pm_max_children": 5, "probe_enabled": True, "config_dir": "/etc/x", "files_dir": "/var/lib/x"}


def _problems(app: dict[str, Any]) -> list[str]:
    groups = {"postgresql_session_stores": ["pg1"]}
    return list(APP.problems([app], DEFAULTS, groups, {"pg1": {"postgresql_session_store_client": PG_VIEW}}, "web1"))


def test_app_picks_its_own_role_and_table() -> None:
    app = {"name": "books", "store": "postgresql", "store_user": "ledger"}
    assert _problems(app) == []
    eff = APP.effective([app], DEFAULTS, "web1")
    [resolved] = APP.resolve(eff, {"postgresql_session_stores": ["pg1"]},
                             {"pg1": {"postgresql_session_store_client": PG_VIEW}}, "/tls")
    pg = resolved["postgresql"]
    assert (pg["user"], pg["table"], pg["password"], pg["absolute_timeout"]) == ("ledger", "ledger_sessions",
                                                                                  "L" * 20, 7200)
    assert resolved["client_cert"]["common_name"] == "ledger"


def test_app_must_name_its_role_on_a_shared_store() -> None:
    assert any("store_user is required" in p for p in _problems({"name": "books", "store": "postgresql"}))
    assert any("not an application role" in p
               for p in _problems({"name": "books", "store": "postgresql", "store_user": "intruder"}))
    too_long = {"name": "books", "store": "postgresql", "store_user": "ledger", "absolute_timeout": 9000}
    assert any("absolute_timeout" in p for p in _problems(too_long))
