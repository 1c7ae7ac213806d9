"""PHP session apps: the host's files, the pool's enforced settings, no secret in the Ansible output.

The config file (with the store password) readable by the pool only and
valid PHP, the FPM pool enforcing the session settings, the CLI hardened the
same way.
"""

from __future__ import annotations

import pytest
from app_client import App, store_of
from conftest import files_containing, host_for

# --- host: files, modes, enforced settings ---------------------------------------------------------

def test_files_holding_secrets_are_not_world_readable(php_app: App) -> None:
    host = host_for(php_app["name"])
    config = host.file(php_app["config_file"])
    assert (config.user, config.group, config.mode) == ("root", php_app["group"], 0o640)
    pool = host.file(php_app["pool_file"])
    assert (pool.user, pool.group, pool.mode) == ("root", "root", 0o600)
    if php_app["store"] in ("redis", "postgresql"):
        store = store_of(php_app)
        secret = (next(u["password"] for u in store["app_users"] if u["name"] == php_app["store_user"])
                  if php_app["store"] == "redis" else store["app_password"])
        hits = files_containing(host, secret, ["/etc", "/usr/local/share", "/var/www"])
        assert hits and all(not host.file(p).mode & 0o004 for p in hits), hits
        assert php_app["config_file"] in hits


def test_config_is_valid_php_and_readable_by_the_pool_only(php_app: App) -> None:
    host = host_for(php_app["name"])
    assert host.run("php -n -l %s", php_app["config_file"]).rc == 0
    check = host.run("runuser -u %s -- php -r %s", php_app["user"],
                     f"$c = require '{php_app['config_file']}'; echo $c['store'], ' ', $c['idleTimeout'];")
    assert check.rc == 0 and check.stdout.strip() == f"{php_app['store']} {php_app['idle_timeout']}", check.stderr
    other = host.run("runuser -u nobody -- cat %s", php_app["config_file"])
    assert other.rc != 0


def test_pool_enforces_the_session_settings(php_app: App) -> None:
    host = host_for(php_app["name"])
    pool = host.file(php_app["pool_file"]).content_string
    expected = [
        "php_admin_flag[session.use_strict_mode] = on", "php_admin_flag[session.use_cookies] = on",
        "php_admin_flag[session.use_only_cookies] = on", "php_admin_flag[session.use_trans_sid] = off",
        "php_admin_flag[session.cookie_secure] = on", "php_admin_flag[session.cookie_httponly] = on",
        f"php_admin_value[session.cookie_samesite] = {php_app['cookie_samesite']}",
        "php_admin_value[session.cookie_lifetime] = 0",
        f"php_admin_value[session.gc_maxlifetime] = {php_app['idle_timeout']}",
        "php_admin_value[session.cache_limiter] = nocache", "php_admin_flag[session.lazy_write] = on",
        f'php_admin_value[session.name] = "{php_app["cookie_name"]}"',
    ]
    for line in expected:
        assert line in pool.splitlines(), line
    assert ("session.sid_length" in pool) == php_app["sid_options"]
    assert "sid_bits_per_character] = 6" not in pool
    assert host.run("php-fpm%s --test", php_app["php_version"]).rc == 0


def test_cli_gets_the_same_hardening(php_app: App) -> None:
    host = host_for(php_app["name"])
    keys = ["use_strict_mode", "use_only_cookies", "use_trans_sid", "cookie_secure", "cookie_httponly",
            "cookie_lifetime", "lazy_write", "sid_length", "sid_bits_per_character"]
    code = "foreach ($argv as $i => $k) if ($i) echo $k, '=', ini_get('session.' . $k), PHP_EOL;"
    out = host.check_output("php -r %s -- " + " ".join(keys), code)
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert values["use_strict_mode"] == "1" and values["use_only_cookies"] == "1"
    assert values["use_trans_sid"] == "0" and values["cookie_secure"] == "1" and values["cookie_httponly"] == "1"
    assert values["cookie_lifetime"] == "0" and values["lazy_write"] == "1"
    assert values["sid_bits_per_character"] != "6"
    if php_app["sid_options"]:
        assert int(values["sid_length"]) >= 32


# --- secrets in Ansible output -------------------------------------------------------------------

def test_no_secret_in_ansible_output(php_app: App, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "php_session_app" in ansible_log, "log does not hold the converge"
    if php_app["store"] == "redis":
        store = store_of(php_app)
        secrets_ = [u["password"] for u in store["app_users"]]
    elif php_app["store"] == "postgresql":
        secrets_ = [store_of(php_app)["app_password"]]
    else:
        secrets_ = []
    for secret in secrets_:
        assert secret not in ansible_log
