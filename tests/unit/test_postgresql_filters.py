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


# A verifier PostgreSQL 17 made (CREATE ROLE ... PASSWORD, rolled back) for this password.
VERIFIER = ("SCRAM-SHA-256$4096:ND6pjTx0bSQehfr8Yt1ZLA==$Uoz3MAMgY/lDL7GG/uLmc/sxwp6J/6Q/6u7S547x8f4="
            ":u8LsQKraPxqJlX4fhpWeQ9erwwKYYNF+uH9o/Qj0YB0=")
PASSWORD = "correct horse battery staple"


def test_scram_matches_only_the_password_of_the_verifier() -> None:
    assert PG.scram_matches(VERIFIER, PASSWORD)
    assert not PG.scram_matches(VERIFIER, PASSWORD + "x")
    assert not PG.scram_matches(VERIFIER, "")
    assert not PG.scram_matches(None, PASSWORD)
    assert not PG.scram_matches("md5" + "0" * 32, PASSWORD)
    assert not PG.scram_matches(VERIFIER + "\n", PASSWORD)
    assert not PG.scram_matches(VERIFIER.replace("ND6p", "ND6*"), PASSWORD)


def _row(role: str, login: bool, password: str | None) -> dict[str, Any]:
    return {"rolname": role, "rolcanlogin": login, "rolpassword": VERIFIER if password == PASSWORD else password}


def _plan(rows: list[dict[str, Any]], password: str = PASSWORD) -> dict[str, Any]:
    return dict(PG.login_plan([{"name": "shop", "password": password}], rows)[0])


def test_login_plan_new_store_uses_the_app_name() -> None:
    plan = _plan([])
    assert (plan["current"], plan["rotated"], plan["add"], plan["complete"], plan["problem"]) == (
        "shop", False, "shop", False, "")


def test_login_plan_follows_the_database_and_never_flips_back() -> None:
    # Converged: shop in use with the inventory's password, shop_b waiting.
    plan = _plan([_row("shop", True, PASSWORD), _row("shop_b", False, None)])
    assert (plan["current"], plan["rotated"], plan["add"], plan["stale"], plan["complete"]) == (
        "shop", True, "", [], True)
    # New password in the vault: shop stays in use, shop_b gets it (phase add).
    plan = _plan([_row("shop", True, PASSWORD), _row("shop_b", False, None)], password="N" * 20)
    assert (plan["current"], plan["rotated"], plan["add"]) == ("shop", False, "shop_b")
    # After phase add: shop_b is in use, shop is stale (phase drop retires it).
    plan = _plan([_row("shop", True, "SCRAM-SHA-256$4096:b2xk$b2xk:b2xk"), _row("shop_b", True, PASSWORD)])
    assert (plan["current"], plan["rotated"], plan["add"], plan["stale"]) == ("shop_b", True, "", ["shop"])
    # After phase drop (and on every re-run or converge): shop_b in use, nothing to do.
    plan = _plan([_row("shop", False, None), _row("shop_b", True, PASSWORD)])
    assert (plan["current"], plan["rotated"], plan["add"], plan["stale"]) == ("shop_b", True, "", [])
    # The next rotation goes back to shop.
    plan = _plan([_row("shop", False, None), _row("shop_b", True, PASSWORD)], password="N" * 20)
    assert (plan["current"], plan["add"]) == ("shop_b", "shop")


def test_login_plan_refuses_two_login_roles_without_the_password() -> None:
    plan = _plan([_row("shop", True, "x"), _row("shop_b", True, "y")])
    assert "rotate_credentials.yml" in plan["problem"] and plan["add"] == ""


def test_login_entries_keep_the_waiting_role_shut_and_a_rotation_under_way_untouched() -> None:
    app = {"name": "shop", "password": PASSWORD, "connection_limit": 20}
    plan = _plan([_row("shop", True, PASSWORD), _row("shop_b", False, None)])
    assert PG.login_entries([app, plan]) == [
        {"role": "shop", "password": PASSWORD, "login": True, "connection_limit": 20},
        {"role": "shop_b", "password": "", "login": False, "connection_limit": 20}]
    plan = _plan([_row("shop", True, "x"), _row("shop_b", True, PASSWORD)])
    assert PG.login_entries([app, plan]) == [
        {"role": "shop_b", "password": PASSWORD, "login": True, "connection_limit": 20},
        {"role": "shop", "password": None, "login": True, "connection_limit": 20}]


def test_both_login_roles_get_the_app_grants_and_the_view_names_the_role_in_use() -> None:
    apps = [{"name": "shop", "table": "t_shop"}]
    rows = [{"relname": "t_shop", "grantee": r, "privilege_type": "SELECT"} for r in ("shop", "shop_b")]
    assert PG.extra_grants(rows, apps, "session_gc", "session_owner") == []
    view = PG.client_apps([{"name": "shop", "password": PASSWORD, "table": "t_shop", "idle_timeout": 60,
                            "absolute_timeout": 60}], "/ca/clients",
                          [{"name": "shop", "current": "shop_b"}])[0]
    assert (view["name"], view["app"], view["login_roles"], view["client_cert_local"]) == (
        "shop_b", "shop", ["shop", "shop_b"], "/ca/clients/shop_b.crt")


def test_second_login_role_may_not_clash() -> None:
    errors = PG.app_problems([{"name": "shop", "password": "S" * 20}, {"name": "shop_b", "password": "T" * 20}],
                             "session_app", "", "session_data", 1800, 28800, "session_owner", "session_gc")
    assert any("'shop_b'" in e and "postgresql_session_store_apps" in e for e in errors), errors


def test_app_after_a_rotation_uses_the_second_role_with_its_own_certificate_file() -> None:
    """The view names ledger's role in use (ledger_b); the app keeps finding it by store_user, and its
    client certificate (CN = ledger_b) is a new file, so the running pool keeps the old one until it reloads."""
    view = {**PG_VIEW, "apps": [{**PG_VIEW["apps"][1], "name": "ledger_b", "app": "ledger"}]}
    app = {"name": "books", "store": "postgresql", "store_user": "ledger"}
    eff = APP.effective([app], DEFAULTS, "web1")
    [resolved] = APP.resolve(eff, {"postgresql_session_stores": ["pg1"]},
                             {"pg1": {"postgresql_session_store_client": view}}, "/tls")
    assert resolved["postgresql"]["user"] == "ledger_b"
    assert resolved["client_cert"] == {"name": "books-client-ledger_b", "cert": "/tls/books-client-ledger_b.crt",
                                       "key": "/tls/books-client-ledger_b.key", "common_name": "ledger_b"}


def _limited(*limits: Any) -> list[dict[str, Any]]:
    apps = PG.effective_apps([{"name": f"app{i}", "password": "S" * 20, "connection_limit": limit}
                              for i, limit in enumerate(limits)], "session_app", "", "session_data", 1800, 28800)
    return list(apps)


def test_every_app_gets_a_connection_limit_by_default() -> None:
    apps = PG.effective_apps([{"name": "shop", "password": "S" * 20}], "session_app", "P" * 20, "session_data",
                             1800, 28800)
    assert [a["connection_limit"] for a in apps] == [20, 20]
    apps = PG.effective_apps([{"name": "shop", "password": "S" * 20}, {"name": "ledger", "password": "L" * 20,
                              "connection_limit": "7"}], "session_app", "", "session_data", 1800, 28800, 12)
    assert [a["connection_limit"] for a in apps] == [12, 7]
    plan = {"current": "shop", "roles": ["shop", "shop_b"], "login": ["shop"]}
    assert [e["connection_limit"] for e in PG.login_entries([apps[0], plan])] == [12, 12]


def test_connection_limits_must_be_positive_and_fit_max_connections() -> None:
    assert PG.connection_problems(_limited(20, 20), 100, {}, 5) == []
    # 92 + 3 superuser + 5 other = 100: fits exactly; one more does not.
    assert PG.connection_problems(_limited(46, 46), 100, {}, 5) == []
    over = PG.connection_problems(_limited(46, 47), 100, {}, 5)
    assert len(over) == 1 and "postgresql_session_store_max_connections (100)" in over[0] and "101" in over[0], over
    assert "app0 46 + app1 47" in over[0]
    # superuser_reserved_connections and reserved_connections of extra_settings count.
    assert PG.connection_problems(_limited(40, 40), 100, {"superuser_reserved_connections": 10,
                                                          "reserved_connections": "6"}, 5) != []
    for bad in (-1, 0, "many", None):
        problems = PG.connection_problems(_limited(10, bad), 100, {}, 5)
        assert problems and "postgresql_session_store_apps[1] (app1).connection_limit" in problems[0], problems
    assert "postgresql_session_store_other_connections" in PG.connection_problems(_limited(10), 100, {}, 0)[0]
    legacy = PG.effective_apps([], "session_app", "P" * 20, "session_data", 1800, 28800, -1)
    assert "postgresql_session_store_app_connection_limit must" in PG.connection_problems(legacy, 100, {}, 5)[0]


def test_patroni_member_reads_this_members_row_of_patronictl_list() -> None:
    rows = ('[{"Member": "pg1", "Role": "Leader", "State": "running", "Pending restart": "*"},'
            ' {"Member": "pg2", "Role": "Sync Standby", "State": "streaming"},'
            ' {"Member": "pg3", "Role": "Replica", "State": "streaming", "Pending restart": " "}]')
    result = {"rc": 0, "stdout": rows}
    assert PG.patroni_member(result, "pg1") == {"role": "leader", "state": "running", "pending": True}
    assert PG.patroni_member(result, "pg2") == {"role": "sync standby", "state": "streaming", "pending": False}
    assert PG.patroni_member(result, "pg3")["pending"] is False
    nothing = {"role": "", "state": "", "pending": False}
    assert PG.patroni_member(result, "pg9") == nothing
    # Patroni down, a skipped task, or no answer at all: nothing is pending.
    assert PG.patroni_member({"rc": 1, "stdout": rows}, "pg1") == nothing
    assert PG.patroni_member({"skipped": True}, "pg1") == nothing
    assert PG.patroni_member({"rc": 0, "stdout": "not json"}, "pg1") == nothing
