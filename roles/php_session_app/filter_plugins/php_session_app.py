"""Filters of the php_session_app role: per-app settings, input checks, store wiring.

The role keeps its logic here so it is testable without a host:

* ``php_session_app_effective(apps, defaults, host)`` fills every optional
  key of ``php_session_app_apps`` from the role defaults;
* ``php_session_app_problems(apps, defaults, groups, hostvars)`` lists every
  input error (empty list when the input is good), each naming the variable;
* ``php_session_app_resolve(apps, groups, hostvars)`` adds each app's store
  connection, read from the store hosts' published client view (facts
  ``redis_session_store_client`` / ``postgresql_session_store_client``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

STORES = ("redis", "postgresql", "files")
DEFAULT_GROUPS = {"redis": "redis_session_stores", "postgresql": "postgresql_session_stores"}
VIEW_FACTS = {"redis": "redis_session_store_client", "postgresql": "postgresql_session_store_client"}
APP_KEYS = {
    "name", "store", "store_group", "store_user", "server_name", "port", "client_port", "idle_timeout",
    "absolute_timeout", "cookie_name", "cookie_samesite", "docroot", "user", "max_children", "probe",
}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,27}$")
# session.name: PHP refuses empty, numeric-only names and these characters;
# cookie-name tokens (RFC 6265) exclude further separators.
COOKIE_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
SERVER_NAME_RE = re.compile(r"^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _var(index: int, app: Mapping[str, Any], key: str | None = None) -> str:
    label = f"php_session_app_apps[{index}]"
    name = app.get("name") if isinstance(app, Mapping) else None
    if name:
        label += f" ({name})"
    return f"{label}.{key}" if key else label


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _flag(value: Any) -> bool:
    """A boolean inventory value, also when a template rendered it as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def effective(apps: list[Mapping[str, Any]], defaults: Mapping[str, Any], host: str) -> list[dict[str, Any]]:
    """Every app with all optional keys filled in from the role defaults."""
    result = []
    for raw in apps or []:
        app = dict(raw)
        name = str(app.get("name", ""))
        store = str(app.get("store", ""))
        port = _int(app.get("port", 443)) or 0
        user = str(app.get("user") or f"php-{name}".replace("_", "-"))
        idle = _int(app.get("idle_timeout", defaults["idle_timeout"]))
        result.append({
            "name": name,
            "store": store,
            "store_group": str(app.get("store_group") or DEFAULT_GROUPS.get(store, "")),
            "store_user": str(app.get("store_user") or ""),
            "server_name": str(app.get("server_name") or host),
            "port": port,
            "client_port": _int(app.get("client_port", port)) or 0,
            "idle_timeout": idle,
            "absolute_timeout": _int(app.get("absolute_timeout", defaults["absolute_timeout"])),
            "cookie_name": str(app.get("cookie_name") or f"{defaults['cookie_name_prefix']}{name}"),
            "cookie_samesite": str(app.get("cookie_samesite") or defaults["cookie_samesite"]),
            "docroot": str(app.get("docroot") or f"/var/www/{name}/public"),
            "user": user,
            "group": user,
            "max_children": _int(app.get("max_children", defaults["pm_max_children"])),
            "probe": bool(app.get("probe", defaults["probe_enabled"])),
            "pool": f"session-app-{name}",
            "socket": f"/run/php/php-session-app-{name}.sock",
            "config_dir": f"{defaults['config_dir']}/{name}",
            "config_file": f"{defaults['config_dir']}/{name}/session.php",
            "files_dir": f"{defaults['files_dir']}/{name}" if store == "files" else "",
        })
    return result


def _host_fact(hostvars: Any, host: str, fact: str) -> Any:
    try:
        return hostvars[host].get(fact)
    except (KeyError, AttributeError, TypeError):
        return None


def _store_view(app: Mapping[str, Any], groups: Mapping[str, Any], hostvars: Any) -> tuple[str, Any]:
    members = list(groups.get(app["store_group"], []) or [])
    if not members:
        return "", None
    host = str(members[0])
    return host, _host_fact(hostvars, host, VIEW_FACTS[app["store"]])


def problems(apps: Any, defaults: Mapping[str, Any], groups: Mapping[str, Any], hostvars: Any,
             host: str = "") -> list[str]:
    """Every error in php_session_app_apps, each naming the variable (empty: all good)."""
    if not isinstance(apps, list):
        return ["php_session_app_apps must be a list of apps."]
    errors: list[str] = []
    for index, raw in enumerate(apps):
        if not isinstance(raw, Mapping):
            errors.append(f"{_var(index, {})} must be a dict.")
            continue
        unknown = sorted(set(raw) - APP_KEYS)
        if unknown:
            errors.append(f"{_var(index, raw)} has unknown keys: {', '.join(unknown)}.")
        if not NAME_RE.match(str(raw.get("name", ""))):
            errors.append(f"{_var(index, raw, 'name')} must match [a-z][a-z0-9_]* (at most 28 characters).")
        if raw.get("store") not in STORES:
            errors.append(f"{_var(index, raw, 'store')} must be one of {', '.join(STORES)} "
                          f"(got {raw.get('store')!r}).")
            continue
    if errors:
        return errors

    eff = effective(apps, defaults, host or "localhost")
    for key in ("name", "cookie_name", "socket", "user"):
        values = [a[key] for a in eff]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            errors.append(f"php_session_app_apps: {key} must be unique per host (repeated: {', '.join(dupes)}).")
    listeners = [(a["server_name"], a["port"]) for a in eff]
    if len(set(listeners)) != len(listeners):
        errors.append("php_session_app_apps: two apps share the same server_name and port.")

    for index, app in enumerate(eff):
        raw = apps[index]
        for key in ("port", "client_port"):
            value = app[key]
            if not 1 <= value <= 65535:
                errors.append(f"{_var(index, app, key)} must be within 1-65535 (got {raw.get(key)!r}).")
        idle, absolute = app["idle_timeout"], app["absolute_timeout"]
        if idle is None or idle < 2:
            errors.append(f"{_var(index, app, 'idle_timeout')} (or php_session_app_idle_timeout) must be an "
                          f"integer of at least 2 seconds (got {raw.get('idle_timeout', defaults['idle_timeout'])!r}).")
        elif absolute is None or absolute < idle:
            errors.append(f"{_var(index, app, 'absolute_timeout')} (or php_session_app_absolute_timeout) must be "
                          f"an integer not below the idle timeout {idle} (got {absolute!r}).")
        cookie = app["cookie_name"]
        if not COOKIE_NAME_RE.match(cookie) or cookie.isdigit():
            errors.append(f"{_var(index, app, 'cookie_name')} must be a cookie-name token, not only digits "
                          f"(got {cookie!r}).")
        if app["cookie_samesite"] not in ("Strict", "Lax"):
            errors.append(f"{_var(index, app, 'cookie_samesite')} (or php_session_app_cookie_samesite) must be "
                          f"Strict or Lax (got {app['cookie_samesite']!r}); None would send the cookie cross-site.")
        if not SERVER_NAME_RE.match(app["server_name"]):
            errors.append(f"{_var(index, app, 'server_name')} is not a host name (got {app['server_name']!r}).")
        if not app["docroot"].startswith("/") or ".." in app["docroot"].split("/"):
            errors.append(f"{_var(index, app, 'docroot')} must be an absolute path without '..'.")
        if not USER_RE.match(app["user"]) or app["user"] in ("root", "www-data", "nobody"):
            errors.append(f"{_var(index, app, 'user')} must be a dedicated system user name "
                          f"(got {app['user']!r}).")
        children = app["max_children"]
        if children is None or children < 1:
            errors.append(f"{_var(index, app, 'max_children')} (or php_session_app_pm_max_children) must be >= 1.")
        errors.extend(_store_problems(index, app, raw, groups, hostvars, defaults))
    return errors


def _store_problems(index: int, app: Mapping[str, Any], raw: Mapping[str, Any], groups: Mapping[str, Any],
                    hostvars: Any, defaults: Mapping[str, Any] | None = None) -> list[str]:
    store = app["store"]
    if store == "files":
        if raw.get("store_user") or raw.get("store_group"):
            return [f"{_var(index, app, 'store_user')}/store_group make no sense with store files."]
        return []
    group = app["store_group"]
    host, view = _store_view(app, groups, hostvars)
    if not host:
        return [f"{_var(index, app, 'store_group')}: inventory group {group!r} has no hosts."]
    if not isinstance(view, Mapping):
        return [f"{_var(index, app, 'store_group')}: store host {host} has not published "
                f"{VIEW_FACTS[store]}; run the store role's 'client' entry point on group {group!r} first "
                "(playbooks/app.yml does)."]
    if store == "redis":
        user = app["store_user"]
        if not user:
            return [f"{_var(index, app, 'store_user')} is required with store redis (the ACL user of "
                    f"redis_session_store_app_users on {host})."]
        users = {str(u.get("name")): u for u in view.get("app_users", []) or []}
        if user not in users:
            return [f"{_var(index, app, 'store_user')}: {user!r} is not in redis_session_store_app_users of "
                    f"{host} (known: {', '.join(sorted(users)) or 'none'})."]
        # phpredis releases its lock with EVAL/EVALSHA, which the store grants
        # only to users with locking on: a mismatch would leave locks to expire.
        locking = _flag((defaults or {}).get("redis_locking", True))
        if locking and not _flag(users[user].get("locking", True)):
            return [f"php_session_app_redis_locking is on but {_var(index, app, 'store_user')} {user!r} has "
                    f"locking off in redis_session_store_app_users of {host} (no EVAL/EVALSHA to release "
                    "locks): turn locking on for that user, or php_session_app_redis_locking off."]
        return []
    # postgresql: one login role and table per app (postgresql_session_store_apps).
    entries = _pg_apps(view)
    user = app["store_user"]
    if not user:
        if len(entries) != 1:
            return [f"{_var(index, app, 'store_user')} is required: {host} has several applications "
                    f"(postgresql_session_store_apps: {', '.join(sorted(entries)) or 'none'})."]
        user = next(iter(entries))
    if user not in entries:
        return [f"{_var(index, app, 'store_user')}: {user!r} is not an application role of {host} "
                f"(postgresql_session_store_apps: {', '.join(sorted(entries)) or 'none'})."]
    errors = []
    entry = entries[user]
    for key in ("idle_timeout", "absolute_timeout"):
        store_value, value = _int(entry.get(key)), app[key]
        if store_value is not None and value is not None and value > store_value:
            errors.append(f"{_var(index, app, key)} ({value}) exceeds the store's {key} ({store_value}) of "
                          f"app {user!r} on {host} (postgresql_session_store_apps / "
                          f"postgresql_session_store_{key}): the store would end live sessions. "
                          "Make them equal.")
    return errors


def _pg_apps(view: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The store's applications by role name (older views: the single app_role)."""
    apps = view.get("apps")
    if isinstance(apps, list):
        return {str(a.get("name")): a for a in apps if isinstance(a, Mapping)}
    if view.get("app_role"):
        return {str(view["app_role"]): {"name": view["app_role"], "password": view.get("app_password", ""),
                                        "table": view.get("table", ""), "idle_timeout": view.get("idle_timeout")}}
    return {}


def resolve(apps: list[Mapping[str, Any]], groups: Mapping[str, Any], hostvars: Any, tls_dir: str = "",
            redis_client_certs: bool = True) -> list[dict[str, Any]]:
    """Effective apps plus their store connection (holds passwords: no_log).

    ``client_cert`` is set when the store wants a client certificate and this
    host's PHP can present one; ``redis.ssl`` is the stream context.
    """
    result = []
    for app in apps:
        entry = dict(app)
        entry["store_host"] = ""
        entry["redis"] = {}
        entry["postgresql"] = {}
        entry["client_cert"] = {}
        entry["store_ca"] = f"{app['config_dir']}/store-ca.crt" if app["store"] in VIEW_FACTS else ""
        entry["store_ca_local"] = ""
        cert = {"name": f"{app['name']}-client", "cert": f"{tls_dir}/{app['name']}-client.crt",
                "key": f"{tls_dir}/{app['name']}-client.key"}
        if app["store"] in VIEW_FACTS:
            host, view = _store_view(app, groups, hostvars)
            entry["store_host"] = host
            entry["store_ca_local"] = str(view["ca_cert_local"])
            if app["store"] == "redis":
                user = next(u for u in view["app_users"] if str(u["name"]) == app["store_user"])
                entry["redis"] = {
                    # App hosts reach the store by its own name and port, not
                    # the address the control node uses.
                    "host": str(view.get("server_name") or view["name"]),
                    "port": int(view["tls_port"]),
                    "user": str(user["name"]),
                    "password": str(user["password"]),
                    "prefix": str(user["key_prefix"]),
                    "tls_auth_clients": str(view.get("tls_auth_clients", "no")),
                    "ca_cert_local": str(view["ca_cert_local"]),
                }
                ssl: dict[str, Any] = {"verify_peer": True, "verify_peer_name": True, "cafile": entry["store_ca"]}
                if entry["redis"]["tls_auth_clients"] in ("yes", "optional") and redis_client_certs:
                    entry["client_cert"] = {**cert, "common_name": entry["redis"]["user"]}
                    ssl.update({"local_cert": cert["cert"], "local_pk": cert["key"]})
                entry["redis"]["ssl"] = ssl
            else:
                entries = _pg_apps(view)
                pg_app = entries[app["store_user"]] if app["store_user"] else next(iter(entries.values()))
                entry["postgresql"] = {
                    "host": str(view["name"]),
                    "port": int(view.get("server_port") or view["port"]),
                    "database": str(view["database"]),
                    "schema": str(view["schema"]),
                    "table": str(pg_app["table"]),
                    "user": str(pg_app["name"]),
                    "password": str(pg_app["password"]),
                    "clientcert": str(view.get("clientcert", "none")),
                    "ca_cert_local": str(view["ca_cert_local"]),
                    "idle_timeout": int(pg_app.get("idle_timeout") or app["idle_timeout"]),
                    "absolute_timeout": int(pg_app.get("absolute_timeout") or app["absolute_timeout"]),
                }
                if entry["postgresql"]["clientcert"] != "none":
                    # clientcert=verify-full: the certificate CN is the role name.
                    entry["client_cert"] = {**cert, "common_name": entry["postgresql"]["user"]}
        result.append(entry)
    return result


def public(apps: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Resolved apps without the store passwords (safe to loop over and log)."""
    result = []
    for app in apps:
        entry = dict(app)
        for store in ("redis", "postgresql"):
            entry[store] = {k: v for k, v in (app.get(store) or {}).items() if k != "password"}
        result.append(entry)
    return result


def client_view(apps: list[Mapping[str, Any]], groups: Mapping[str, Any], host: str, client_host: str,
                ca_cert_local: str, php_version: str, sid_options: bool, pool_dir: str,
                fpm_service: str, persistent: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The fact php_session_app_client: how a client reaches each app (no secrets).

    ``persistent`` maps a store type to whether its connections persist.
    """
    view = []
    for app in apps:
        members = list(groups.get(app["store_group"], []) or []) if app["store_group"] else []
        view.append({
            "name": host,
            "app": app["name"],
            "url": f"https://{client_host}:{app['client_port']}/",
            "server_name": app["server_name"],
            "port": app["port"],
            "ca_cert_local": ca_cert_local,
            "cookie_name": app["cookie_name"],
            "cookie_samesite": app["cookie_samesite"],
            "idle_timeout": app["idle_timeout"],
            "absolute_timeout": app["absolute_timeout"],
            "store": app["store"],
            "store_group": app["store_group"],
            "store_host": str(members[0]) if members else "",
            "store_user": app["store_user"],
            "probe": app["probe"],
            "persistent": bool((persistent or {}).get(app["store"], False)),
            "max_children": app["max_children"],
            "user": app["user"],
            "group": app["group"],
            "config_file": app["config_file"],
            "pool_file": f"{pool_dir}/{app['pool']}.conf",
            "socket": app["socket"],
            "files_dir": app["files_dir"],
            "php_version": str(php_version),
            "fpm_service": fpm_service,
            "sid_options": bool(sid_options),
        })
    return view


def redis_save_path(app: Mapping[str, Any], timeout: Any, persistent: bool) -> str:
    """phpredis session.save_path for the app's Redis store (percent-encoded: safe in ini files).

    phpredis 5.3.7 (Debian 12) ignores the stream[...] options here; the pool
    sets openssl.cafile for it and client certificates need phpredis 6.
    """
    redis = app["redis"]
    params: list[tuple[str, Any]] = [
        ("auth[user]", redis["user"]), ("auth[pass]", redis["password"]), ("prefix", redis["prefix"]),
        ("timeout", timeout), ("read_timeout", timeout), ("persistent", 1 if persistent else 0),
    ]
    params += [(f"stream[{k}]", (1 if v else 0) if isinstance(v, bool) else v) for k, v in redis["ssl"].items()]
    query = "&".join(f"{quote(k, safe='[]')}={quote(str(v), safe='')}" for k, v in params)
    return f"tls://{redis['host']}:{int(redis['port'])}?{query}"


def php_quote(value: Any) -> str:
    """A PHP single-quoted string literal."""
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fpm_value(value: Any) -> str:
    """A php-fpm pool ini value, double-quoted (the parser unescapes nothing but \\")."""
    text = str(value)
    if any(c in text for c in '"\n\r\0'):
        raise ValueError("php-fpm values cannot hold double quotes or line breaks")
    return f'"{text}"'


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {
            "php_session_app_effective": effective,
            "php_session_app_problems": problems,
            "php_session_app_resolve": resolve,
            "php_session_app_public": public,
            "php_session_app_client_view": client_view,
            "php_session_app_redis_save_path": redis_save_path,
            "php_session_app_php_quote": php_quote,
            "php_session_app_fpm_value": fpm_value,
        }
