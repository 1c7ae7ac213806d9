"""php_session_app: bad input fails before any host is touched, naming the variable.

Like test_redis_validation.py: the role runs against a host nothing listens
on, so a correct role fails on the control node (argument specs, assert
tasks) and a role that let the value through fails later, at fact gathering
(UNREACHABLE). The inventory holds fake store hosts whose client view is
plain host vars (role_validation): the role reads it exactly as it reads the
facts the store roles publish. The role's filters: test_app_filters.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from role_validation import (
    GOOD_APPS,
    GOOD_CIPHERS,
    PAST_VALIDATION,
    REDIS_VIEW,
    SHA,
    Cases,
    app_store_groups,
    run_app_role,
)


def apps_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    apps = [dict(a) for a in GOOD_APPS]
    apps[index].update(changes)
    return [{k: v for k, v in a.items() if v is not None} for a in apps]


def apps_plus(**app: Any) -> list[dict[str, Any]]:
    return [dict(a) for a in GOOD_APPS] + [app]


# One row per refused value: (role variables, the variable the message must name).
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
    # Issue 22 item 7: reserved accounts, private directories, configuration-line strings.
    **{f"pool runs as {user}": ({"php_session_app_apps": apps_with(2, user=user)},
                                "php_session_app_apps[2] (notes).user")
       for user in ("haproxy", "etcd", "patroni", "session_gc")},
    "docroot inside php_session_app_files_dir": (
        {"php_session_app_apps": apps_with(2, docroot="/var/lib/php-session-app/notes/public")},
        "php_session_app_apps[2] (notes).docroot"),
    "docroot inside php_session_app_config_dir": (
        {"php_session_app_apps": apps_with(2, docroot="/etc/session-kit/php/shop")},
        "php_session_app_apps[2] (notes).docroot"),
    "docroot inside another app's docroot": (
        {"php_session_app_apps": apps_with(2, docroot="/var/www/shop/public/notes")},
        "php_session_app_apps[2] (notes).docroot"),
    "docroot holding another app's docroot": (
        {"php_session_app_apps": apps_with(0, docroot="/var/www/notes")},
        "php_session_app_apps[0] (shop).docroot"),
    "newline in the TLS groups": ({"php_session_app_tls_groups": "X25519;\nssl_verify_client off"},
                                  "php_session_app_tls_groups"),
    "semicolon in the TLS groups": ({"php_session_app_tls_groups": "X25519; autoindex on"},
                                    "php_session_app_tls_groups"),
    "vertical tab in the ciphers": ({"php_session_app_tls_ciphers": GOOD_CIPHERS + "\x0b"},
                                    "php_session_app_tls_ciphers"),
    "newline in the client host": ({"php_session_app_client_host": "app.example.org\nx"},
                                   "php_session_app_client_host"),
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


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    """Every case of CASES and the control, run together once (role_validation.Cases); the fake
    store hosts are the same for all of them."""
    return Cases(tmp_path_factory.mktemp("app-validation"), "php_session_app", {
        **{name: {"php_session_app_apps": GOOD_APPS, **override} for name, (override, _) in CASES.items()},
        "control: good input": {"php_session_app_apps": GOOD_APPS},
    }, groups=app_store_groups())


@pytest.mark.parametrize("case", list(CASES))
def test_app_bad_input_fails_early(outcomes: Cases, case: str) -> None:
    _, needle = CASES[case]
    outcome = outcomes[case]
    assert outcome.failed, outcome.tail(3000)
    assert needle in outcome.text, outcome.tail(3000)
    assert not any(m in outcome.text for m in PAST_VALIDATION), "validation let the value through: " + outcome.tail()


def test_server_name_covering_the_redis_ha_service_name_fails_early(tmp_path: Path) -> None:
    """An app certificate for *.redis.internal would be valid for the HA store's service name, which
    redis_session_proxy maps to 127.0.0.1 on every app host (issue 22 item 7)."""
    view = {**REDIS_VIEW, "ha": True, "service_name": "sessions.redis.internal", "proxy_port": 6390}
    apps = apps_with(0, server_name="*.redis.internal")
    output = run_app_role(tmp_path, {"php_session_app_apps": apps}, redis_view=view)
    assert "php_session_app_apps[0] (shop).server_name" in output, output[-3000:]
    assert not any(m in output for m in PAST_VALIDATION), "validation let the value through: " + output[-2000:]
    # Control: the same wildcard without the HA view is accepted.
    output = run_app_role(tmp_path, {"php_session_app_apps": apps})
    assert any(m in output for m in PAST_VALIDATION), output[-3000:]


def test_store_without_client_view_fails_early(tmp_path: Path) -> None:
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS}, redis_view=False)
    assert "has not published redis_session_store_client" in output, output[-3000:]
    assert not any(m in output for m in PAST_VALIDATION)


def test_app_good_input_passes_validation(outcomes: Cases) -> None:
    """Control: valid input gets past validation and fails only at the host."""
    outcome = outcomes["control: good input"]
    assert outcome.failed, outcome.tail(3000)
    assert any(m in outcome.text for m in PAST_VALIDATION), outcome.tail(3000)
    output = outcome.text + outcome.log
    assert "S" * 24 not in output and "P" * 24 not in output, "a store password reached the output"
