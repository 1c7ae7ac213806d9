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

import fnmatch
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ansible_collections.hardened.sessions.plugins.module_utils import input_rules as rules
from ansible_collections.hardened.sessions.plugins.module_utils.inventory_values import as_int

STORES = ("redis", "postgresql", "files")
DEFAULT_GROUPS = {"redis": "redis_session_stores", "postgresql": "postgresql_session_stores"}
VIEW_FACTS = {"redis": "redis_session_store_client", "postgresql": "postgresql_session_store_client"}
APP_KEYS = {
    "name", "store", "store_group", "store_user", "server_name", "port", "client_port", "idle_timeout",
    "absolute_timeout", "cookie_name", "cookie_samesite", "docroot", "user", "max_children", "probe",
}
# Every pattern is used with re.fullmatch: "$" would accept a trailing newline.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,27}")
# session.name: PHP refuses empty, numeric-only names and these characters;
# cookie-name tokens (RFC 6265) exclude further separators.
COOKIE_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# PHP decodes incoming cookie names like form fields: '+' and '%XX' are
# decoded, ' ' and '.' become '_', '[' opens an array. A session cookie named
# with one of these is set but never read back.
COOKIE_NAME_PHP_REWRITES = frozenset(" .[]+%")
# One host name, or an nginx wildcard: "*." in front or ".*" at the end.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SERVER_NAME_RE = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*(?:\.\*)?")
USER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# Accounts and groups of the system, the stores and the web server: a pool
# running as one of them (its group is the user's name) would hold their
# privileges or files.
PRIVILEGED_USERS = rules.RESERVED_ACCOUNTS
PRIVILEGED_USER_PREFIXES = rules.RESERVED_PREFIXES
# Directories the role must never create, chown or chmod (docroot, files_dir,
# config_dir): system and shared directories, the kit's own.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
    "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/lib",
    "/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share", "/usr/src", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run",
    "/var/spool", "/var/tmp", "/var/www", "/var/www/html", "/var/lib/php", "/var/lib/php/sessions",
    "/etc/nginx", "/etc/php", "/etc/ssl", "/etc/ssl/private", "/etc/ssl/certs", "/etc/session-kit",
    "/etc/redis", "/etc/valkey", "/etc/postgresql", "/var/lib/redis", "/var/lib/valkey", "/var/lib/postgresql",
})
# Kernel and runtime file systems: nothing of an app lives there.
VOLATILE_ROOTS = ("/proc", "/sys", "/dev", "/run")
WEAK_CIPHERS_RE = rules.WEAK_CIPHERS_RE
WEAK_SECLEVEL_RE = rules.WEAK_SECLEVEL_RE
SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9._@+/-]*")
# Referrer-Policy values nginx may send ("" leaves the header out); unsafe-url
# would leak full URLs (ids, tokens) to other sites.
REFERRER_POLICIES = frozenset({
    "", "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin",
    "origin-when-cross-origin", "no-referrer-when-downgrade",
})
# A header value inside nginx double quotes: no quote, backslash or variable.
HEADER_VALUE_RE = re.compile(r"[ !#%&'()*+,./0-9:;<=>?@A-Z\[\]^_`a-z{|}~-]*")


def _var(index: int, app: Mapping[str, Any], key: str | None = None) -> str:
    label = f"php_session_app_apps[{index}]"
    name = app.get("name") if isinstance(app, Mapping) else None
    if name:
        label += f" ({name})"
    return f"{label}.{key}" if key else label


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
        port = as_int(app.get("port", 443)) or 0
        user = str(app.get("user") or f"php-{name}".replace("_", "-"))
        idle = as_int(app.get("idle_timeout", defaults["idle_timeout"]))
        result.append({
            "name": name,
            "store": store,
            "store_group": str(app.get("store_group") or DEFAULT_GROUPS.get(store, "")),
            "store_user": str(app.get("store_user") or ""),
            "server_name": str(app.get("server_name") or host),
            "port": port,
            "client_port": as_int(app.get("client_port", port)) or 0,
            "idle_timeout": idle,
            "absolute_timeout": as_int(app.get("absolute_timeout", defaults["absolute_timeout"])),
            "cookie_name": str(app.get("cookie_name") or f"{defaults['cookie_name_prefix']}{name}"),
            "cookie_samesite": str(app.get("cookie_samesite") or defaults["cookie_samesite"]),
            "docroot": str(app.get("docroot") or f"/var/www/{name}/public"),
            "user": user,
            "group": user,
            "max_children": as_int(app.get("max_children", defaults["pm_max_children"])),
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


def _norm(path: str) -> str:
    return rules.norm_path(path)


def _within(path: str, parent: str) -> bool:
    """Whether `path` is `parent` or below it (the kit's shared rule)."""
    return rules.within(path, parent)


def dir_problem(path: Any) -> str:
    """Why the role must not create, chown or chmod this directory ("" when it may)."""
    text = str(path)
    if not SAFE_PATH_RE.fullmatch(text) or ".." in text.split("/"):
        return f"must be an absolute path of [A-Za-z0-9._@+/-] without '..' (got {text!r})"
    norm = _norm(text)
    if norm in SYSTEM_DIRS:
        return f"must not be a system directory (got {text!r}): the role would take it over"
    for root in VOLATILE_ROOTS:
        if _within(norm, root):
            return f"must not be under {root} (got {text!r})"
    return ""


def cipher_problem(ciphers: Any) -> str:
    """Why an OpenSSL cipher list is refused ("" when it is not)."""
    text = str(ciphers)
    if WEAK_CIPHERS_RE.search(text) or WEAK_SECLEVEL_RE.search(text):
        return (f"enables weak ciphers or a low security level (NULL, EXPORT, RC4, DES/3DES, MD5, anonymous, "
                f"PSK/SRP, ALL/DEFAULT/LOW/MEDIUM, @SECLEVEL=0/1; got {text!r})")
    if not text.strip() or rules.CONTROL_RE.search(text) or any(c in text for c in " \t\r\n;{}\"'$"):
        return f"must be one OpenSSL cipher list without spaces or quotes (got {text!r})"
    return ""


def settings_problems(settings: Mapping[str, Any]) -> list[str]:
    """Errors of the role-level settings; `settings` maps each variable's name to its value."""
    errors = []
    dirs = {}
    for key in ("php_session_app_files_dir", "php_session_app_config_dir"):
        if key in settings:
            reason = dir_problem(settings[key])
            if reason:
                errors.append(f"{key} {reason}.")
            else:
                dirs[key] = _norm(str(settings[key]))
    if len(dirs) == 2:
        files, config = dirs["php_session_app_files_dir"], dirs["php_session_app_config_dir"]
        if _within(files, config) or _within(config, files):
            errors.append("php_session_app_files_dir and php_session_app_config_dir must not be the same or nested "
                          f"(got {files!r} and {config!r}).")
    if "php_session_app_tls_ciphers" in settings:
        reason = cipher_problem(settings["php_session_app_tls_ciphers"])
        if reason:
            errors.append(f"php_session_app_tls_ciphers {reason}.")
    if "php_session_app_tls_groups" in settings:
        # nginx ssl_ecdh_curve: a ';' would end the directive and start another.
        errors += rules.groups_problems("php_session_app_tls_groups", settings["php_session_app_tls_groups"])
    if "php_session_app_client_host" in settings:
        errors += rules.line_problems({"php_session_app_client_host": settings["php_session_app_client_host"]},
                                      " \"';{}$/?#@", "a host name")
    policy = settings.get("php_session_app_referrer_policy")
    if policy is not None and str(policy) not in REFERRER_POLICIES:
        errors.append(f"php_session_app_referrer_policy must be one of {', '.join(sorted(REFERRER_POLICIES))} "
                      f"(got {policy!r}).")
    csp = settings.get("php_session_app_content_security_policy")
    if csp is not None and not HEADER_VALUE_RE.fullmatch(str(csp)):
        errors.append("php_session_app_content_security_policy must be printable ASCII without \", \\ or $ "
                      f"(got {csp!r}).")
    return errors


def _store_names(groups: Mapping[str, Any], hostvars: Any, store_groups: set[str], host: str) -> dict[str, str]:
    """Every name a store host other than `host` answers to, mapped to its inventory name."""
    names: dict[str, str] = {}
    for group in sorted(store_groups):
        for member in groups.get(group, []) or []:
            store = str(member)
            if store == host:
                continue
            candidates = [store, _host_fact(hostvars, store, "ansible_host")]
            for fact in VIEW_FACTS.values():
                view = _host_fact(hostvars, store, fact)
                if isinstance(view, Mapping):
                    # An HA group's service name: app hosts dial it (redis_session_proxy maps it
                    # to 127.0.0.1), so an app certificate valid for it would impersonate the store.
                    candidates += [view.get("server_name"), view.get("name"), view.get("service_name")]
            for name in candidates:
                if isinstance(name, str) and name:
                    names[name.lower()] = store
    return names


def _server_name_matches(pattern: str, name: str) -> bool:
    """nginx server_name semantics: exact, "*.suffix" (any depth) or "prefix.*"."""
    pattern = pattern.lower()
    if pattern.startswith("*.") or pattern.endswith(".*"):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern == name


def _shared_acl_users(eff: list[dict[str, Any]], hostvars: Any, play_hosts: Any, host: str) -> list[str]:
    """Redis ACL users (store_group, store_user) that two differently named apps would share.

    The same app on several hosts (same name) shares its user on purpose.
    """
    owners: dict[tuple[str, str], set[str]] = {}
    seen = [(host, a) for a in eff]
    for other in play_hosts or []:
        if str(other) == host:
            continue
        theirs = _host_fact(hostvars, str(other), "php_session_app_apps")
        for raw in theirs if isinstance(theirs, list) else []:
            if isinstance(raw, Mapping) and raw.get("store") == "redis":
                seen.append((str(other), {"name": str(raw.get("name", "")), "store": "redis",
                                          "store_group": str(raw.get("store_group") or DEFAULT_GROUPS["redis"]),
                                          "store_user": str(raw.get("store_user") or "")}))
    for where, app in seen:
        if app["store"] == "redis" and app["store_user"]:
            owners.setdefault((app["store_group"], app["store_user"]), set()).add(
                app["name"] if where == host else f"{app['name']} on {where}")
    errors = []
    for (group, user), names in sorted(owners.items()):
        apps = {n.split(" on ")[0] for n in names}
        mine = [a["name"] for a in eff if (a["store_group"], a["store_user"]) == (group, user)]
        if len(apps) > 1 and mine:
            errors.append(f"php_session_app_apps: store_user {user!r} of store_group {group!r} is shared by the apps "
                          f"{', '.join(sorted(names))}: give each app its own Redis ACL user and key prefix "
                          "(one compromised app would read and forge the other's sessions).")
    return errors


def problems(apps: Any, defaults: Mapping[str, Any], groups: Mapping[str, Any], hostvars: Any,
             host: str = "", play_hosts: Any = None) -> list[str]:
    """Every error in php_session_app_apps, each naming the variable (empty: all good).

    `play_hosts`: the other app hosts of the play, whose apps must not share
    this host's Redis ACL users under another app name.
    """
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
        if not isinstance(raw.get("name"), str) or not NAME_RE.fullmatch(raw["name"]):
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
    errors.extend(_shared_acl_users(eff, hostvars, play_hosts, host or "localhost"))
    store_groups = set(DEFAULT_GROUPS.values()) | {a["store_group"] for a in eff if a["store_group"]}
    store_names = _store_names(groups, hostvars, store_groups, host)
    protected = [_norm(str(defaults[k])) for k in ("config_dir", "files_dir", "tls_dir", "share_dir")
                 if defaults.get(k)]
    kit_accounts = _kit_accounts(groups, hostvars, store_groups)

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
        if not COOKIE_NAME_RE.fullmatch(cookie) or cookie.isdigit():
            errors.append(f"{_var(index, app, 'cookie_name')} must be a cookie-name token, not only digits "
                          f"(got {cookie!r}).")
        elif COOKIE_NAME_PHP_REWRITES & set(cookie):
            errors.append(f"{_var(index, app, 'cookie_name')} must not contain '.', ' ', '[', ']', '+' or '%' "
                          f"(got {cookie!r}): PHP rewrites such names when it reads cookies, the session would "
                          "never be resumed.")
        if app["cookie_samesite"] not in ("Strict", "Lax"):
            errors.append(f"{_var(index, app, 'cookie_samesite')} (or php_session_app_cookie_samesite) must be "
                          f"Strict or Lax (got {app['cookie_samesite']!r}); None would send the cookie cross-site.")
        errors.extend(_server_name_problems(index, app, store_names))
        errors.extend(_docroot_problems(index, app, protected, eff))
        user = app["user"]
        if not USER_RE.fullmatch(user):
            errors.append(f"{_var(index, app, 'user')} must be a user name [a-z][a-z0-9_-]* (got {user!r}).")
        elif user in PRIVILEGED_USERS or user.startswith(PRIVILEGED_USER_PREFIXES):
            errors.append(f"{_var(index, app, 'user')} must be a dedicated user of this app, not the system or "
                          f"service account {user!r} (default php-NAME).")
        elif user in kit_accounts:
            errors.append(f"{_var(index, app, 'user')} must be a dedicated user of this app, not {user!r}: the kit "
                          "uses that account itself (the PostgreSQL session GC, whose peer login deletes sessions).")
        children = app["max_children"]
        if children is None or children < 1:
            errors.append(f"{_var(index, app, 'max_children')} (or php_session_app_pm_max_children) must be >= 1.")
        errors.extend(_store_problems(index, app, raw, groups, hostvars, defaults))
    return errors


# The PostgreSQL store's GC system user when the inventory does not name it.
DEFAULT_GC_ROLE = "session_gc"


def _kit_accounts(groups: Mapping[str, Any], hostvars: Any, store_groups: set[str]) -> set[str]:
    """System accounts the kit's store roles create (an app pool must not run as one of them)."""
    accounts = {DEFAULT_GC_ROLE}
    for group in sorted(store_groups):
        for member in groups.get(group, []) or []:
            role = _host_fact(hostvars, str(member), "postgresql_session_store_gc_role")
            if isinstance(role, str) and role and "{" not in role:
                accounts.add(role)
    return accounts


def _server_name_problems(index: int, app: Mapping[str, Any], store_names: Mapping[str, str]) -> list[str]:
    name = app["server_name"]
    if not SERVER_NAME_RE.fullmatch(name) or len(name) > 253:
        return [f"{_var(index, app, 'server_name')} must be one host name, or an nginx wildcard '*.domain' or "
                f"'name.*' (got {name!r})."]
    hits = sorted({store for candidate, store in store_names.items() if _server_name_matches(name, candidate)})
    if hits:
        return [f"{_var(index, app, 'server_name')} {name!r} also matches the store host(s) {', '.join(hits)}: the "
                "app's HTTPS certificate (same CA) would be valid for the store. Name the app precisely."]
    return []


def _docroot_problems(index: int, app: Mapping[str, Any], protected: list[str],
                      apps: list[dict[str, Any]] | None = None) -> list[str]:
    docroot = app["docroot"]
    reason = dir_problem(docroot)
    if reason:
        return [f"{_var(index, app, 'docroot')} {reason}."]
    norm = _norm(docroot)
    served = sorted(p for p in protected if _within(p, norm))
    if served:
        return [f"{_var(index, app, 'docroot')} {docroot!r} contains {', '.join(served)}: nginx would serve the "
                "kit's configs, keys or sessions."]
    inside = sorted(p for p in protected if _within(norm, p))
    if inside:
        return [f"{_var(index, app, 'docroot')} {docroot!r} lies inside {', '.join(inside)} (the kit's private "
                "directory: php_session_app_files_dir, php_session_app_config_dir or the TLS/share directory): "
                "the app's files and its user would reach sessions, configs or keys."]
    errors = []
    for other_index, other in enumerate(apps or []):
        if other["name"] == app["name"]:
            continue
        for key in ("docroot", "config_dir", "files_dir"):
            path = other[key]
            if path and (_within(norm, _norm(path)) or (key == "docroot" and _within(_norm(path), norm))):
                errors.append(f"{_var(index, app, 'docroot')} {docroot!r} and {_var(other_index, other, key)} "
                              f"{path!r} must not be the same directory or lie inside each other: each app's "
                              "directories are private to it.")
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
        # phpredis releases its lock with EVALSHA of its release script, which
        # the store grants only to users with locking on: a mismatch would
        # leave locks to expire.
        locking = _flag((defaults or {}).get("redis_locking", True))
        if locking and not _flag(users[user].get("locking", True)):
            return [f"php_session_app_redis_locking is on but {_var(index, app, 'store_user')} {user!r} has "
                    f"locking off in redis_session_store_app_users of {host} (no EVALSHA to release "
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
        store_value, value = as_int(entry.get(key)), app[key]
        if store_value is not None and value is not None and value > store_value:
            errors.append(f"{_var(index, app, key)} ({value}) exceeds the store's {key} ({store_value}) of "
                          f"app {user!r} on {host} (postgresql_session_store_apps / "
                          f"postgresql_session_store_{key}): the store would end live sessions. "
                          "Make them equal.")
    return errors


def _pg_apps(view: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The store's applications by app name (older views: the single app_role).

    ``name`` is the login role the app uses now: the app's name, or its second role after a
    credential rotation (``app`` is then the app's name).
    """
    apps = view.get("apps")
    if isinstance(apps, list):
        return {str(a.get("app") or a.get("name")): a for a in apps if isinstance(a, Mapping)}
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
                ha = _flag(view.get("ha", False))
                entry["redis"] = {
                    # App hosts reach the store by its own name and port, not
                    # the address the control node uses; an HA group by its
                    # service name through the host's local proxy
                    # (redis_session_proxy maps the name to 127.0.0.1).
                    "host": str(view["service_name"] if ha else (view.get("server_name") or view["name"])),
                    "port": int(view["proxy_port"] if ha else view["tls_port"]),
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
                nodes = list(view.get("nodes") or []) if view.get("ha") else []
                entry["postgresql"] = {
                    # HA: every member (libpq multi-host; the app picks the
                    # read-write one), each dialled by its own name.
                    "host": ",".join(str(n["name"]) for n in nodes) if nodes else str(view["name"]),
                    "port": (",".join(str(int(n["port"])) for n in nodes) if nodes
                             else int(view.get("server_port") or view["port"])),
                    "ha": bool(nodes),
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
                    # clientcert=verify-full: the certificate CN is the role name. The
                    # second login role (rotation) has its own files: the running pool
                    # keeps the first one's until its reload.
                    role = entry["postgresql"]["user"]
                    if role != str(pg_app.get("app") or role):
                        cert = {"name": f"{app['name']}-client-{role}",
                                "cert": f"{tls_dir}/{app['name']}-client-{role}.crt",
                                "key": f"{tls_dir}/{app['name']}-client-{role}.key"}
                    entry["client_cert"] = {**cert, "common_name": role}
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
                fpm_service: str, persistent: Mapping[str, Any] | None = None,
                headers: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The fact php_session_app_client: how a client reaches each app (no secrets).

    ``persistent`` maps a store type to whether its connections persist;
    ``headers`` are the security headers the app servers send ("" = none).
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
            "docroot": app["docroot"],
            "pool_file": f"{pool_dir}/{app['pool']}.conf",
            "socket": app["socket"],
            "files_dir": app["files_dir"],
            "php_version": str(php_version),
            "fpm_service": fpm_service,
            "sid_options": bool(sid_options),
            "headers": {str(k): str(v) for k, v in (headers or {}).items()},
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
            "php_session_app_settings_problems": settings_problems,
            "php_session_app_resolve": resolve,
            "php_session_app_public": public,
            "php_session_app_client_view": client_view,
            "php_session_app_redis_save_path": redis_save_path,
            "php_session_app_php_quote": php_quote,
            "php_session_app_fpm_value": fpm_value,
        }
