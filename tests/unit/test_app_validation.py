"""php_session_app: bad input fails before any host is touched, naming the variable.

Like test_validation.py: the role runs against a host nothing listens on, so
a correct role fails on the control node (argument specs, assert tasks) and a
role that let the value through fails later, at fact gathering (UNREACHABLE).
The inventory holds fake store hosts whose client view is plain host vars:
the role reads it exactly as it reads the facts the store roles publish.
Plus direct tests of the role's filters (rendering helpers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from role_filters import load

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "validation" / "play.yml"
PAST_VALIDATION = ("UNREACHABLE", "has no attribute 'distribution'")

REDIS_VIEW = {
    "name": "fake-redis", "server_name": "fake-redis", "host": "127.0.0.1", "port": 6379, "tls_port": 6379,
    "tls_auth_clients": "no", "ca_cert_local": "/nonexistent/ca.crt",
    "app_users": [{"name": "shop", "password": "S" * 24, "key_prefix": "shop:sess:"}],
}
PG_VIEW = {
    "name": "fake-pg", "host": "127.0.0.1", "port": 5432, "server_port": 5432, "database": "sessions",
    "schema": "session_store", "table": "session_data", "app_role": "session_app", "app_password": "P" * 24,
    "clientcert": "none", "ca_cert_local": "/nonexistent/ca.crt", "idle_timeout": 1800,
}
GOOD_APPS: list[dict[str, Any]] = [
    {"name": "shop", "store": "redis", "store_user": "shop", "port": 8443},
    {"name": "ledger", "store": "postgresql", "port": 8444},
    {"name": "notes", "store": "files", "port": 8445},
]


def run_app_role(tmp_path: Path, extra: dict[str, Any], *, redis_view: bool = True) -> str:
    target = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh",
              "ansible_ssh_common_args": "-o ConnectTimeout=2"}
    inventory = {"all": {
        "hosts": {"target": target},
        "children": {
            "redis_session_stores": {"hosts": {"fake-redis": {"redis_session_store_client": REDIS_VIEW}
                                               if redis_view else {}}},
            "postgresql_session_stores": {"hosts": {"fake-pg": {"postgresql_session_store_client": PG_VIEW,
                                                                "ansible_host": "pg1.example.org"}}},
            "empty_stores": {"hosts": {}},
        },
    }}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "vars.json").write_text(json.dumps({"role_under_test": "php_session_app", **extra}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(PLAY), "-e", f"@{tmp_path / 'vars.json'}",
         "--limit", "target"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


def apps_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    apps = [dict(a) for a in GOOD_APPS]
    apps[index].update(changes)
    return [{k: v for k, v in a.items() if v is not None} for a in apps]


def apps_plus(**app: Any) -> list[dict[str, Any]]:
    return [dict(a) for a in GOOD_APPS] + [app]


GOOD_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

# One row per refused value: (role variables, the variable the message must name).
SHA = "a" * 64

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown store": ({"php_session_app_apps": apps_with(0, store="memcached")}, "store"),
    "bad app name": ({"php_session_app_apps": apps_with(0, name="Shop!")}, "php_session_app_apps[0]"),
    "redis without user": ({"php_session_app_apps": apps_with(0, store_user=None)}, "store_user"),
    "redis user unknown to the store": ({"php_session_app_apps": apps_with(0, store_user="intruder")},
                                        "php_session_app_apps[0] (shop).store_user"),
    "store group without hosts": ({"php_session_app_apps": apps_with(0, store_group="empty_stores")},
                                  "php_session_app_apps[0] (shop).store_group"),
    "idle timeout too short": ({"php_session_app_idle_timeout": 1}, "php_session_app_idle_timeout"),
    "absolute below idle": ({"php_session_app_apps": apps_with(2, idle_timeout=600, absolute_timeout=60)},
                            "php_session_app_apps[2] (notes).absolute_timeout"),
    "SameSite None": ({"php_session_app_cookie_samesite": "None"}, "php_session_app_cookie_samesite"),
    "per-app SameSite None": ({"php_session_app_apps": apps_with(0, cookie_samesite="None")}, "cookie_samesite"),
    "sid bits 6": ({"php_session_app_sid_bits_per_character": 6}, "php_session_app_sid_bits_per_character"),
    "sid too short": ({"php_session_app_sid_length": 22}, "php_session_app_sid_length"),
    "PG idle above the store's GC threshold": ({"php_session_app_apps": apps_with(1, idle_timeout=3600)},
                                               "php_session_app_apps[1] (ledger).idle_timeout"),
    "PG user is not the store's role": ({"php_session_app_apps": apps_with(1, store_user="other")},
                                        "php_session_app_apps[1] (ledger).store_user"),
    "duplicate app names": ({"php_session_app_apps": apps_with(1, name="shop")}, "name must be unique"),
    "port out of range": ({"php_session_app_apps": apps_with(2, port=70000)}, "php_session_app_apps[2] (notes).port"),
    "unknown app key": ({"php_session_app_apps": apps_with(0, cookie_secure=False)}, "cookie_secure"),
    "cookie name with a separator": ({"php_session_app_apps": apps_with(0, cookie_name="a;b")}, "cookie_name"),
    "pool runs as root": ({"php_session_app_apps": apps_with(2, user="root")}, "php_session_app_apps[2] (notes).user"),
    "weak TLS version": ({"php_session_app_tls_protocols": ["TLSv1.1"]}, "php_session_app_tls_protocols"),
    "certificate lifetime over 366 days": ({"session_pki_cert_valid_days": 397}, "session_pki_cert_valid_days"),
    # names full-match: no trailing newline slips through
    "app name with a trailing newline": ({"php_session_app_apps": apps_with(0, name="shop\n")},
                                         "php_session_app_apps[0]"),
    "user with a trailing newline": ({"php_session_app_apps": apps_with(2, user="php-notes\n")},
                                     "php_session_app_apps[2] (notes).user"),
    "cookie name with a trailing newline": ({"php_session_app_apps": apps_with(0, cookie_name="__Host-shop\n")},
                                            "php_session_app_apps[0] (shop).cookie_name"),
    "server_name with a trailing newline": ({"php_session_app_apps": apps_with(0, server_name="shop.example.org\n")},
                                            "php_session_app_apps[0] (shop).server_name"),
    # system and privileged accounts
    **{f"pool runs as {user}": ({"php_session_app_apps": apps_with(2, user=user)},
                                "php_session_app_apps[2] (notes).user")
       for user in ("daemon", "bin", "sys", "adm", "sudo", "shadow", "staff", "disk", "docker", "lxd", "www-data",
                    "nobody", "postgres", "redis", "valkey", "nginx", "systemd-network", "_apt")},
    # system directories
    **{f"docroot {path}": ({"php_session_app_apps": apps_with(2, docroot=path)},
                           "php_session_app_apps[2] (notes).docroot")
       for path in ("/", "/etc", "/etc/", "//tmp", "/usr", "/var", "/var/www", "/root", "/home", "/run", "/proc/1",
                    "/sys", "/dev/shm", "/boot", "/bin", "/etc/session-kit", "/etc/session-kit/tls",
                    "/usr/local/share/php-session-app", "/var/lib/php-session-app",
                    "/var/www/x; autoindex on", "/var/www/x\n")},
    **{f"files_dir {path}": ({"php_session_app_files_dir": path}, "php_session_app_files_dir")
       for path in ("/", "/tmp", "/var/tmp", "/var/lib", "/var/lib/php/sessions", "/run/sessions", "/var/x\n")},
    **{f"config_dir {path}": ({"php_session_app_config_dir": path}, "php_session_app_config_dir")
       for path in ("/etc", "/root", "/usr/local", "/etc/session-kit", "etc/php")},
    "files_dir inside config_dir": ({"php_session_app_files_dir": "/etc/session-kit/php/files"},
                                    "php_session_app_files_dir and php_session_app_config_dir"),
    # cookie names PHP rewrites when it reads them
    **{f"cookie name {name!r}": ({"php_session_app_apps": apps_with(0, cookie_name=name)},
                                 "php_session_app_apps[0] (shop).cookie_name")
       for name in ("__Host-shop.eu", "__Host-shop eu", "__Host-shop[0]", "__Host-shop+eu", "__Host-shop%2e")},
    # server names that would also name a store (same CA)
    "server_name wildcard matching a store's ansible_host": (
        {"php_session_app_apps": apps_with(0, server_name="*.example.org")},
        "php_session_app_apps[0] (shop).server_name"),
    "server_name suffix wildcard matching a store": ({"php_session_app_apps": apps_with(0, server_name="pg1.*")},
                                                     "php_session_app_apps[0] (shop).server_name"),
    "server_name naming a store": ({"php_session_app_apps": apps_with(0, server_name="fake-redis")},
                                   "php_session_app_apps[0] (shop).server_name"),
    "server_name wildcard in the middle": ({"php_session_app_apps": apps_with(0, server_name="shop.*.org")},
                                           "php_session_app_apps[0] (shop).server_name"),
    # two apps, one Redis ACL user
    "two apps share a Redis ACL user": (
        {"php_session_app_apps": apps_plus(name="shop2", store="redis", store_user="shop", port=8446)},
        "store_user 'shop' of store_group 'redis_session_stores' is shared"),
    # weak nginx ciphers (the kit's common check)
    **{f"ciphers {ciphers}": ({"php_session_app_tls_ciphers": ciphers}, "php_session_app_tls_ciphers")
       for ciphers in ("ALL", "DEFAULT", "HIGH:MEDIUM", f"{GOOD_CIPHERS}:RC4-SHA", f"{GOOD_CIPHERS}:DES-CBC3-SHA",
                       f"{GOOD_CIPHERS}:aNULL", f"{GOOD_CIPHERS}:eNULL", f"{GOOD_CIPHERS}:EXP-RC4-MD5",
                       f"{GOOD_CIPHERS}:+3DES", f"{GOOD_CIPHERS}:@SECLEVEL=1", f"{GOOD_CIPHERS}:@seclevel=0",
                       f"{GOOD_CIPHERS}:ADH-AES128-SHA", f"{GOOD_CIPHERS};", "")},
    # security headers
    "Referrer-Policy unsafe-url": ({"php_session_app_referrer_policy": "unsafe-url"},
                                   "php_session_app_referrer_policy"),
    "CSP breaking out of the header": (
        {"php_session_app_content_security_policy": "frame-ancestors 'none'\"; return 200"},
        "php_session_app_content_security_policy"),
    "CSP with an nginx variable": ({"php_session_app_content_security_policy": "default-src $host"},
                                   "php_session_app_content_security_policy"),
    # Phalcon install (control case: test_phalcon_validation.py)
    "unknown install mode": ({"php_session_app_phalcon": "apt"}, "php_session_app_phalcon"),
    "source without archive": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source_sha256": SHA},
                               "php_session_app_phalcon_source must be"),
    "source without sha256": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "/x.tgz"},
                              "php_session_app_phalcon_source_sha256"),
    "source over plain http": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "http://x/y.tgz",
                                "php_session_app_phalcon_source_sha256": SHA},
                               "php_session_app_phalcon_source must be"),
    "sha256 with a trailing newline": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "/x.tgz",
                                        "php_session_app_phalcon_source_sha256": SHA + "\n"},
                                       "php_session_app_phalcon_source_sha256"),
    "version not X.Y.Z": ({"php_session_app_phalcon_version": "latest"}, "php_session_app_phalcon_version"),
    "relative cache dir": ({"php_session_app_phalcon_cache_dir": "cache"}, "php_session_app_phalcon_cache_dir"),
    "seed dir missing": ({"php_session_app_phalcon_seed_dir": "/nonexistent/seed"}, "KIT_PHALCON_SEED"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_app_bad_input_fails_early(tmp_path: Path, case: str) -> None:
    override, needle = CASES[case]
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS, **override})
    assert needle in output, output[-3000:]
    assert not any(m in output for m in PAST_VALIDATION), "validation let the value through: " + output[-2000:]


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


def test_store_without_client_view_fails_early(tmp_path: Path) -> None:
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS}, redis_view=False)
    assert "has not published redis_session_store_client" in output, output[-3000:]
    assert not any(m in output for m in PAST_VALIDATION)


def test_app_good_input_passes_validation(tmp_path: Path) -> None:
    """Control: valid input gets past validation and fails only at the host."""
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS})
    assert any(m in output for m in PAST_VALIDATION), output[-3000:]
    assert "S" * 24 not in output and "P" * 24 not in output, "a store password reached the output"


# --- the filters ------------------------------------------------------------------------------

def _filters() -> ModuleType:
    return load("php_session_app")


DEFAULTS = {"idle_timeout": 1800, "absolute_timeout": 28800, "cookie_name_prefix": "__Host-",
            "cookie_samesite": "Strict", "pm_max_children": 5, "probe_enabled": True,
            "config_dir": "/etc/session-kit/php", "files_dir": "/var/lib/php-session-app",
            "tls_dir": "/etc/session-kit/tls", "share_dir": "/usr/local/share/php-session-app"}


class FakeHostvars(dict[str, dict[str, Any]]):
    pass


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
