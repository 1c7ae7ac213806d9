"""php_session_app's filters (rendering helpers, checks) and defaults, called directly."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml
from role_filters import load
from role_validation import GOOD_APPS, GOOD_CIPHERS, PG_VIEW, REDIS_VIEW, ROOT


def _filters() -> ModuleType:
    return load("php_session_app")


DEFAULTS = {"idle_timeout": 1800, "absolute_timeout": 28800, "cookie_name_prefix": "__Host-",
            "cookie_samesite": "Strict", "pm_max_children": 5, "probe_enabled": True,
            "config_dir": "/etc/session-kit/php", "files_dir": "/var/lib/php-session-app",
            "tls_dir": "/etc/session-kit/tls", "share_dir": "/usr/local/share/php-session-app"}


class FakeHostvars(dict[str, dict[str, Any]]):
    pass


def test_good_ciphers_and_headers_pass() -> None:
    """Control for the table: negated weak tokens, strong lists and the header defaults are fine."""
    f = _filters()
    for ciphers in (GOOD_CIPHERS, "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!PSK:!SRP", "ECDHE+AESGCM:@SECLEVEL=2"):
        assert f.cipher_problem(ciphers) == "", ciphers
    defaults = yaml.safe_load((ROOT / "roles/php_session_app/defaults/main.yml").read_text())
    settings = {k: v for k, v in defaults.items() if k in (
        "php_session_app_files_dir", "php_session_app_config_dir", "php_session_app_tls_ciphers",
        "php_session_app_referrer_policy", "php_session_app_content_security_policy")}
    assert len(settings) == 5 and f.settings_problems(settings) == []


def test_probe_is_off_unless_an_inventory_turns_it_on() -> None:
    """The live probe ships off; the lab turns it on, the production/staging examples keep it off."""
    defaults = yaml.safe_load((ROOT / "roles/php_session_app/defaults/main.yml").read_text())
    assert defaults["php_session_app_probe_enabled"] is False
    lab = yaml.safe_load((ROOT / "inventories/lab/group_vars/session_apps.yml").read_text())
    assert lab["php_session_app_probe_enabled"] is True
    for name in ("production", "staging"):
        path = ROOT / "inventories" / name / "group_vars/session_apps/main.yml"
        values = yaml.safe_load(path.read_text()) if path.exists() else {}
        assert values.get("php_session_app_probe_enabled", False) is False, name
    f = _filters()
    [app] = f.effective([{"name": "shop", "store": "files"}], {**DEFAULTS, "probe_enabled": False}, "web1")
    assert app["probe"] is False


def test_an_acl_user_shared_across_hosts_is_refused() -> None:
    """Another host's app under another name may not use this app's Redis user; the same app scaled out may."""
    f = _filters()
    groups = {"redis_session_stores": ["fake-redis"], "postgresql_session_stores": ["fake-pg"]}
    mine = [GOOD_APPS[0]]
    same_app = FakeHostvars({"fake-redis": {"redis_session_store_client": REDIS_VIEW},
                             "fake-pg": {"postgresql_session_store_client": PG_VIEW},
                             "web2": {"php_session_app_apps": [{**GOOD_APPS[0]}]}})
    assert f.problems(mine, DEFAULTS, groups, same_app, "web1", ["web1", "web2"]) == []
    other_app = FakeHostvars({**same_app, "web2": {"php_session_app_apps": [{**GOOD_APPS[0], "name": "blog"}]}})
    errors = f.problems(mine, DEFAULTS, groups, other_app, "web1", ["web1", "web2"])
    assert len(errors) == 1 and "store_user 'shop'" in errors[0] and "blog on web2" in errors[0], errors


def test_effective_fills_the_defaults() -> None:
    f = _filters()
    [app] = f.effective([{"name": "shop_eu", "store": "redis", "store_user": "shop"}], DEFAULTS, "web1")
    assert app["cookie_name"] == "__Host-shop_eu"
    assert app["user"] == "php-shop-eu" and app["group"] == "php-shop-eu"
    assert app["store_group"] == "redis_session_stores"
    assert (app["server_name"], app["port"], app["client_port"]) == ("web1", 443, 443)
    assert app["config_file"] == "/etc/session-kit/php/shop_eu/session.php"


def test_resolve_uses_the_store_name_and_server_port() -> None:
    f = _filters()
    groups = {"redis_session_stores": ["fake-redis"], "postgresql_session_stores": ["fake-pg"]}
    hostvars = FakeHostvars({"fake-redis": {"redis_session_store_client": {**REDIS_VIEW, "port": 26379}},
                             "fake-pg": {"postgresql_session_store_client": {**PG_VIEW, "port": 25432}}})
    apps = f.effective(GOOD_APPS, DEFAULTS, "web1")
    assert f.problems(GOOD_APPS, DEFAULTS, groups, hostvars, "web1") == []
    shop, ledger, notes = f.resolve(apps, groups, hostvars, "/etc/session-kit/tls", True)
    assert (shop["redis"]["host"], shop["redis"]["port"]) == ("fake-redis", 6379)
    assert (ledger["postgresql"]["host"], ledger["postgresql"]["port"]) == ("fake-pg", 5432)
    assert notes["redis"] == {} and notes["postgresql"] == {}
    public = f.public([shop, ledger])
    assert "password" not in public[0]["redis"] and "password" not in public[1]["postgresql"]
    assert shop["redis"]["password"] == "S" * 24, "public() must not change the resolved apps"


def test_client_certificates_follow_the_store_and_php() -> None:
    f = _filters()
    groups = {"redis_session_stores": ["fake-redis"], "postgresql_session_stores": ["fake-pg"]}
    redis_view = {**REDIS_VIEW, "tls_auth_clients": "optional"}
    hostvars = FakeHostvars({"fake-redis": {"redis_session_store_client": redis_view},
                             "fake-pg": {"postgresql_session_store_client": {**PG_VIEW, "clientcert": "verify-full"}}})
    apps = f.effective(GOOD_APPS[:2], DEFAULTS, "web1")
    shop, ledger = f.resolve(apps, groups, hostvars, "/tls", True)
    assert shop["client_cert"]["cert"] == "/tls/shop-client.crt"
    assert shop["redis"]["ssl"]["local_pk"] == "/tls/shop-client.key"
    assert ledger["client_cert"]["common_name"] == "session_app"
    shop_old, _ = f.resolve(apps, groups, hostvars, "/tls", False)
    assert shop_old["client_cert"] == {} and "local_cert" not in shop_old["redis"]["ssl"]


def test_redis_save_path_is_percent_encoded() -> None:
    f = _filters()
    app = {"redis": {"host": "store", "port": 6379, "user": "shop", "password": 'p"$&=;%x', "prefix": "shop:sess:",
                     "ssl": {"verify_peer": True, "cafile": "/etc/ca.crt"}}}
    path = f.redis_save_path(app, 2.5, True)
    assert path.startswith("tls://store:6379?auth[user]=shop&auth[pass]=p%22%24%26%3D%3B%25x&prefix=shop%3Asess%3A")
    assert "stream[verify_peer]=1" in path and "stream[cafile]=%2Fetc%2Fca.crt" in path
    assert f.fpm_value(path) == f'"{path}"'
    with pytest.raises(ValueError):
        f.fpm_value('a"b')


def test_php_quote_escapes() -> None:
    f = _filters()
    assert f.php_quote("it's a \\ test") == "'it\\'s a \\\\ test'"
