"""Filters that validate input, derive the per-app entries and render postgresql.conf values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.hardened.sessions.plugins.module_utils import input_rules as rules
from ansible_collections.hardened.sessions.plugins.module_utils.inventory_values import as_int

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\.?")

APPS_VAR = "postgresql_session_store_apps"
APP_KEYS = {"name", "password", "table", "idle_timeout", "absolute_timeout", "connection_limit"}
# Connections per app login role when neither the app nor
# postgresql_session_store_app_connection_limit says (4 app hosts x the app
# role's default 5 FPM workers, each holding one persistent connection).
DEFAULT_CONNECTION_LIMIT = 20
# PostgreSQL's default superuser_reserved_connections / reserved_connections.
DEFAULT_SUPERUSER_RESERVED = 3
# Role name of an app; its default table is "session_data_<name>" (fits 63).
APP_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,47}")
IDENTIFIER_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
RESERVED_ROLES = {"postgres", "public", "root", "none", "current_user", "session_user", "current_role"}
MIN_PASSWORD = rules.MIN_PASSWORD_LENGTH
PLACEHOLDER_RE = rules.PLACEHOLDER_RE
MD5_VERIFIER_RE = re.compile(r"(?i)md5[0-9a-f]{32}")
SCRAM_VERIFIER_RE = re.compile(r"SCRAM-SHA-256\$.*", re.S)
SCRAM_PARTS_RE = re.compile(r"SCRAM-SHA-256\$(?P<iterations>[1-9][0-9]{0,6}):(?P<salt>[A-Za-z0-9+/=]+)"
                            r"\$(?P<stored>[A-Za-z0-9+/=]+):(?P<server>[A-Za-z0-9+/=]+)")
# Suffix of an app's second login role (rotation: the two take turns).
ALTERNATE_SUFFIX = "_b"
# log_directory may not be (under) a system or PostgreSQL-owned path.
SYSTEM_DIRS = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev",
               "/proc", "/sys", "/root", "/run", "/tmp", "/var/run", "/var/tmp", "/var/lib/postgresql",
               "/var/lib/pgsql", "/var/spool", "/var/mail", "/var/cache", "/var/backups", "/snap")
SYSTEM_EXACT = ("/", "/var", "/var/lib", "/var/log", "/var/log/postgresql", "/home", "/srv", "/mnt", "/media")
_TRUE = {"on", "true", "yes", "1", "t", "y"}


def _is_cidr(value: object) -> bool:
    """A network in CIDR notation with an explicit prefix and no host bits."""
    text = str(value).strip()
    if "/" not in text or text != str(value):
        return False
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


def bad_cidrs(values: Iterable[object]) -> list[str]:
    """Return the entries of ``values`` that are not valid CIDR networks."""
    return [str(v) for v in values if not _is_cidr(v)]


def _is_listen_address(value: object) -> bool:
    text = str(value)
    if text in ("*", "localhost"):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(text))
    return True


def bad_listen_addresses(values: Iterable[object]) -> list[str]:
    """Return the entries that are neither an IP address, a host name, ``localhost`` nor ``*``."""
    return [str(v) for v in values if not _is_listen_address(v)]


def conf_value(value: object) -> str:
    """Render a value for postgresql.conf: booleans as on/off, numbers bare, the rest quoted."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "''")
    return f"'{text}'"


def patroni_value(value: object) -> str:
    """A postgresql.conf value for Patroni's YAML (Patroni quotes it): booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def patroni_parameters(parameters: Mapping[str, Any]) -> dict[str, str]:
    """postgresql.conf settings as Patroni's postgresql.parameters (string values)."""
    return {str(name): patroni_value(value) for name, value in parameters.items()}


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            result.update(_flatten(value, f"{prefix}{key}."))
        else:
            result[f"{prefix}{key}"] = patroni_value(value)
    return result


def dcs_differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether Patroni's cluster-wide settings differ from the role's (only the keys the role sets count)."""
    now, want = _flatten(current), _flatten(wanted)
    return any(now.get(key) != value for key, value in want.items())


def hba_line(address: str, kind: str, database: str, users: str, options: str) -> str:
    """One pg_hba.conf line with SCRAM: an address alone becomes a /32 (/128) network."""
    network = address if "/" in address else f"{address}/{128 if ':' in address else 32}"
    return f"{kind} {database} {users} {network} scram-sha-256{options}"


def node(name: str, hostvars: Any, port: int) -> dict[str, Any]:
    """An HA member as clients see it: inventory name (the name app hosts dial; it is in the
    certificate), the server port, and the host/port the control node reaches it at."""
    own = hostvars[name]
    return {
        "name": str(name),
        "port": int(port),
        "client_host": str(own.get("postgresql_session_store_client_host") or own.get("ansible_host") or name),
        "client_port": int(own.get("postgresql_session_store_client_port") or port),
    }


def member_address(name: str, hostvars: Any) -> str:
    """An HA member's address: its postgresql_session_store_ha_address when the inventory sets one,
    else its default IPv4 address (the role default, which hostvars do not carry)."""
    own = hostvars[name]
    explicit = own.get("postgresql_session_store_ha_address")
    if explicit:
        return str(explicit)
    try:
        return str(own["ansible_facts"]["default_ipv4"]["address"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{name}: no facts to find its address; set postgresql_session_store_ha_address") from exc


def dcs_member(pair: Any) -> dict[str, str]:
    """An etcd member from (address, inventory name)."""
    address, name = pair
    return {"name": str(name), "address": str(address)}


def patroni_member(result: Any, member: str) -> dict[str, Any]:
    """This member's row of ``patronictl list -f json`` (a registered command result), normalised.

    Returns ``role`` and ``state`` (lower case, "" when unknown) and ``pending``: true when Patroni
    flags the member "pending restart" (Patroni 3 and 4 put "*" in that column). A failed command
    or a member not listed gives an empty role and state, and pending false.
    """
    rows: Any = []
    if isinstance(result, Mapping) and result.get("rc", 1) == 0:
        try:
            rows = json.loads(str(result.get("stdout") or "[]"))
        except ValueError:
            rows = []
    row = next((r for r in rows if isinstance(r, Mapping) and str(r.get("Member")) == str(member)), {}) \
        if isinstance(rows, list) else {}
    pending = row.get("Pending restart")
    return {"role": str(row.get("Role") or "").lower(), "state": str(row.get("State") or "").lower(),
            "pending": pending is not None and str(pending).strip() != ""}


def effective_apps(apps: Any, legacy_role: str, legacy_password: Any, legacy_table: str, idle_timeout: Any,
                   absolute_timeout: Any, connection_limit: Any = DEFAULT_CONNECTION_LIMIT) -> list[dict[str, Any]]:
    """Every application of the store: ``postgresql_session_store_apps`` plus the deprecated
    single-app variables (``app_role``/``app_password``/``table``) when the password is set.

    Each entry: name (login role), password, table, idle_timeout, absolute_timeout, connection_limit
    (None when it is not an integer).
    """
    result: list[dict[str, Any]] = []
    for raw in apps if isinstance(apps, list) else []:
        if not isinstance(raw, Mapping):
            continue
        name = str(raw.get("name", ""))
        result.append({
            "name": name,
            "password": "" if raw.get("password") is None else str(raw.get("password")),
            "table": str(raw.get("table") or f"session_data_{name}"),
            "idle_timeout": as_int(raw.get("idle_timeout", idle_timeout)),
            "absolute_timeout": as_int(raw.get("absolute_timeout", absolute_timeout)),
            "connection_limit": as_int(raw.get("connection_limit", connection_limit)),
            "legacy": False,
        })
    if legacy_password not in (None, ""):
        result.append({
            "name": str(legacy_role),
            "password": str(legacy_password),
            "table": str(legacy_table),
            "idle_timeout": as_int(idle_timeout),
            "absolute_timeout": as_int(absolute_timeout),
            "connection_limit": as_int(connection_limit),
            "legacy": True,
        })
    return result


def password_problem(value: Any) -> str:
    """Why ``value`` is not acceptable as an application password ("" when it is)."""
    if not isinstance(value, str) or value == "":
        return "must be set (vault)"
    if PLACEHOLDER_RE.match(value):
        return "is an example placeholder (CHANGE-ME...): set a real secret in the vault"
    if MD5_VERIFIER_RE.fullmatch(value) or SCRAM_VERIFIER_RE.fullmatch(value):
        return ("is an md5 or SCRAM verifier: give the password itself (app hosts need it to log in; "
                "the role stores a SCRAM verifier)")
    if len(value) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if rules.CONTROL_RE.search(value):
        return "cannot hold control characters (NUL, line breaks, tabs, ...)"
    return ""


def app_problems(apps: Any, legacy_role: str, legacy_password: Any, legacy_table: str, idle_timeout: Any,
                 absolute_timeout: Any, owner_role: str, gc_role: str) -> list[str]:
    """Every error in the applications (empty: all good); each message names the variable."""
    if not isinstance(apps, list):
        return [f"{APPS_VAR} must be a list of {{name, password, table?, idle_timeout?, absolute_timeout?}}."]
    errors: list[str] = []
    for index, raw in enumerate(apps):
        if not isinstance(raw, Mapping):
            errors.append(f"{APPS_VAR}[{index}] must be a dict with name and password.")
        elif set(raw) - APP_KEYS:
            errors.append(f"{APPS_VAR}[{index}] has unknown keys: {', '.join(sorted(set(raw) - APP_KEYS))}.")
    if errors:
        return errors
    eff = effective_apps(apps, legacy_role, legacy_password, legacy_table, idle_timeout, absolute_timeout)
    if not eff:
        return [f"Set {APPS_VAR} (one entry per application: name, password) or the deprecated "
                "postgresql_session_store_app_password: the store has no application."]
    for index, app in enumerate(eff):
        label = ("postgresql_session_store_app_role/postgresql_session_store_app_password" if app["legacy"]
                 else f"{APPS_VAR}[{index}] ({app['name']})")
        pw_label = "postgresql_session_store_app_password" if app["legacy"] else f"{APPS_VAR}[{index}].password"
        name_re = IDENTIFIER_RE if app["legacy"] else APP_NAME_RE
        if not name_re.fullmatch(app["name"]):
            errors.append(f"{label}: name {app['name']!r} must be a lower-case SQL identifier "
                          f"([a-z_][a-z0-9_]*, at most {63 if app['legacy'] else 48} characters).")
        elif app["name"] in RESERVED_ROLES or app["name"].startswith("pg_") or app["name"] in (owner_role, gc_role):
            errors.append(f"{label}: name {app['name']!r} is reserved or is the owner/GC role.")
        if not IDENTIFIER_RE.fullmatch(app["table"]):
            errors.append(f"{label}: table {app['table']!r} must be a lower-case SQL identifier "
                          "([a-z_][a-z0-9_]*, at most 63 characters).")
        problem = password_problem(app["password"])
        if problem:
            errors.append(f"{pw_label} {problem}.")
        idle, absolute = app["idle_timeout"], app["absolute_timeout"]
        if idle is None or idle < 60:
            errors.append(f"{label}: idle_timeout (or postgresql_session_store_idle_timeout) must be >= 60 s.")
        elif absolute is None or absolute < idle:
            errors.append(f"{label}: absolute_timeout (or postgresql_session_store_absolute_timeout) must be "
                          f"an integer not below the idle timeout {idle}.")
    names = {a["name"] for a in eff}
    for app in eff:
        alternate = alternate_role(app["name"])
        if len(alternate) > 63 or alternate in names or alternate in (owner_role, gc_role):
            errors.append(f"{APPS_VAR} ({app['name']}): the app's second login role {alternate!r} (rotation) must "
                          "fit 63 characters and may not be another app's name, the owner or the GC role.")
    for key in ("name", "table"):
        values = [a[key] for a in eff]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            errors.append(f"{APPS_VAR} (with the deprecated postgresql_session_store_app_role/table): {key} must "
                          f"be unique per store (repeated: {', '.join(dupes)}).")
    return errors


def connection_problems(apps: Any, max_connections: Any, extra_settings: Any, other_connections: Any) -> list[str]:
    """Why the apps' connection limits do not fit the server (empty: they do); each message names the variable.

    ``apps`` are the effective apps (effective_apps). Every app login role needs a limit >= 1 (-1, no
    limit, lets one app take every connection), and the limits together with the superuser's and the
    kit's own reserve must fit max_connections, so a busy app can exhaust only its own share.
    """
    errors: list[str] = []
    limits: list[tuple[str, int]] = []
    for index, app in enumerate(apps if isinstance(apps, list) else []):
        label = "postgresql_session_store_app_connection_limit"
        if not app.get("legacy"):
            label = f"{APPS_VAR}[{index}] ({app['name']}).connection_limit (or {label})"
        limit = app.get("connection_limit")
        if not isinstance(limit, int) or limit < 1:
            errors.append(f"{label} must be an integer >= 1 (connections of the app's login role; -1, no limit, "
                          f"lets one app take every connection of the store), got {limit!r}.")
        else:
            limits.append((str(app["name"]), limit))
    settings = extra_settings if isinstance(extra_settings, Mapping) else {}
    superuser = as_int(settings.get("superuser_reserved_connections", DEFAULT_SUPERUSER_RESERVED))
    reserved = as_int(settings.get("reserved_connections", 0))
    other, maximum = as_int(other_connections), as_int(max_connections)
    if other is None or other < 1:
        errors.append(f"postgresql_session_store_other_connections must be an integer >= 1 (the GC job, "
                      f"monitoring, the kit's own tools), got {other_connections!r}.")
    if errors or maximum is None or superuser is None or reserved is None or other is None:
        return errors
    total = sum(limit for _, limit in limits) + superuser + reserved + other
    if total > maximum:
        apps_text = " + ".join(f"{name} {limit}" for name, limit in limits)
        errors.append(
            f"{APPS_VAR}: the app login roles' connection limits ({apps_text}) plus superuser_reserved_connections "
            f"({superuser}), reserved_connections ({reserved}) and postgresql_session_store_other_connections "
            f"({other}) come to {total}, above postgresql_session_store_max_connections ({maximum}): lower "
            "postgresql_session_store_app_connection_limit or an app's connection_limit, or raise "
            "postgresql_session_store_max_connections.")
    return errors


def _number(value: Any) -> float | None:
    """The leading number of a setting value ("250ms" -> 250), None when there is none."""
    if isinstance(value, bool):
        return None
    match = re.fullmatch(r"\s*(-?\d+(\.\d+)?)\s*[a-zA-Z]*\s*", str(value))
    return float(match.group(1)) if match else None


def logging_problems(settings: Any, per_role: bool = False) -> list[str]:
    """Settings that would put statements, parameters or row data into the server log."""
    if not isinstance(settings, Mapping):
        return []
    bad: list[str] = []
    for raw_name, value in settings.items():
        name = str(raw_name).lower()
        text = str(value).strip().lower()
        number = _number(value)
        truthy = value is True or text in _TRUE
        if (
            (name == "log_statement" and text not in ("none", "ddl"))
            or (name in ("log_min_duration_statement", "log_min_duration_sample") and number != -1)
            or (name == "log_min_error_statement" and text != "panic")
            or (name in ("log_parameter_max_length", "log_parameter_max_length_on_error") and number != 0)
            or (name in ("log_statement_sample_rate", "log_transaction_sample_rate") and number != 0)
            or (name in ("log_duration", "debug_print_parse", "debug_print_rewritten", "debug_print_plan",
                         "debug_pretty_print", "log_parser_stats", "log_planner_stats", "log_executor_stats",
                         "log_statement_stats") and truthy)
            or (name == "log_min_messages" and text.startswith("debug"))
            or (name == "client_min_messages" and per_role and text.startswith("debug"))
            or (name == "log_error_verbosity" and per_role and text != "terse")
            or name.startswith(("auto_explain.", "pgaudit.", "pg_stat_statements."))
            or (name in ("session_preload_libraries", "shared_preload_libraries", "local_preload_libraries")
                and re.search(r"auto_explain|pgaudit", text))
        ):
            bad.append(f"{raw_name}={value}")
    return bad


def log_directory_problem(path: Any) -> str:
    """Why ``path`` cannot be the log directory ("" when it can)."""
    text = str(path)
    if not re.fullmatch(r"/[A-Za-z0-9._/-]+", text):
        return "must be an absolute path of letters, digits and . _ - /"
    parts = text.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts):
        return "may not contain '.', '..', '//' or a trailing '/'"
    if text in SYSTEM_EXACT:
        return "is a system directory; use a directory of its own (it is made 0700 postgres)"
    for system in SYSTEM_DIRS:
        if text == system or text.startswith(system + "/"):
            return f"is under the system directory {system}"
    if re.fullmatch(r"/lib[^/]*(/.*)?", text):
        return "is under a system library directory"
    return ""


def weak_ciphers(value: Any) -> bool:
    """True when the cipher string enables a weak suite (the kit's common rule)."""
    return rules.weak_ciphers(str(value))


# Roles that are also system users (the GC job runs as its role's namesake).
ROLE_VARS = ("owner_role", "app_role", "gc_role")
HA_ROLE_VARS = ("replication_role", "rewind_role")


def settings_problems(settings: Mapping[str, Any]) -> list[str]:
    """Errors of the role names and of strings that land in postgresql.conf, pg_hba.conf, the GC
    unit, Patroni's and etcd's files (keys: variable names without the role prefix; ``apps``: the
    effective apps, without passwords). Each message names the variable."""
    prefix = "postgresql_session_store_"
    errors: list[str] = []
    ha = settings.get("ha") in (True, "true", "True", "yes", "on")
    names = [*ROLE_VARS, *(HA_ROLE_VARS if ha else ())]
    for key in names:
        if key in settings:
            problem = rules.reserved_problem(f"{prefix}{key}", settings[key])
            errors += [problem] if problem else []
    apps = [a for a in settings.get("apps") or [] if isinstance(a, Mapping)]
    for index, app in enumerate(apps):
        if not app.get("legacy"):
            problem = rules.reserved_problem(f"{APPS_VAR}[{index}].name", app.get("name"))
            errors += [problem] if problem else []
    if ha:
        logins = {role: str(app.get("name")) for app in apps for role in login_roles(str(app.get("name")))}
        for key in HA_ROLE_VARS:
            role = str(settings.get(key, ""))
            if role in logins:
                errors.append(f"{prefix}{key} {role!r} is a login role of the app {logins[role]!r} "
                              f"({APPS_VAR} or {prefix}app_role; each app has NAME and NAME{ALTERNATE_SUFFIX}): "
                              "the app would get replication or rewind rights.")
    # Quoted values of postgresql.conf (and Patroni's parameters): a control character ends the line.
    for key in ("log_line_prefix", "extra_settings", "app_role_settings", "gc_on_calendar", "ha_group"):
        if key in settings:
            errors += rules.line_problems({f"{prefix}{key}": settings[key]})
    # Tokens of etcd's environment file, the GC unit and connection strings.
    for key in ("client_host", *(("ha_address",) if ha else ())):
        if key in settings:
            errors += rules.line_problems({f"{prefix}{key}": settings[key]}, " \"'#;=", "a host name or address")
    return errors


def extra_grants(rows: Iterable[Mapping[str, Any]], apps: Iterable[Mapping[str, Any]], gc_role: str,
                 owner_role: str) -> list[dict[str, Any]]:
    """Table privileges in the session schema beyond the contract, to revoke.

    ``rows``: (relname, grantee, privilege_type) of every ACL entry in the
    schema (grantee "PUBLIC" for PUBLIC). The contract: each app role holds
    SELECT, INSERT, UPDATE, DELETE on its own table only; the GC role SELECT
    and DELETE on every app table; the owner anything.
    """
    allowed: dict[tuple[str, str], set[str]] = {}
    for app in apps:
        table = str(app["table"])
        for role in login_roles(str(app["name"])):
            allowed[(table, role)] = {"SELECT", "INSERT", "UPDATE", "DELETE"}
        allowed[(table, gc_role)] = {"SELECT", "DELETE"}
    extra: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        table, grantee, privilege = str(row["relname"]), str(row["grantee"]), str(row["privilege_type"])
        if grantee in (owner_role, "postgres"):
            continue
        if privilege not in allowed.get((table, grantee), set()):
            extra.setdefault((table, grantee), set()).add(privilege)
    return [{"table": t, "role": r, "privs": ",".join(sorted(p))} for (t, r), p in sorted(extra.items())]


def alternate_role(name: str) -> str:
    """The second login role of an app (the two take turns at each password rotation)."""
    return f"{name}{ALTERNATE_SUFFIX}"


def login_roles(name: str) -> list[str]:
    """Both login roles of an app: its name, then the alternate."""
    return [str(name), alternate_role(str(name))]


def scram_matches(verifier: Any, password: Any) -> bool:
    """Whether ``password`` is the one a PostgreSQL SCRAM-SHA-256 verifier was made from (RFC 5802/7677).

    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``; the password is normalized as
    PostgreSQL's SASLprep does for the passwords the kit accepts (NFKC; ASCII is unchanged).
    """
    match = SCRAM_PARTS_RE.fullmatch(str(verifier or ""))
    if not match or password is None:
        return False
    try:
        salt = base64.b64decode(match.group("salt"), validate=True)
        stored = base64.b64decode(match.group("stored"), validate=True)
        server = base64.b64decode(match.group("server"), validate=True)
    except ValueError:
        return False
    text = unicodedata.normalize("NFKC", str(password))
    salted = hashlib.pbkdf2_hmac("sha256", text.encode(), salt, int(match.group("iterations")))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (hmac.compare_digest(hashlib.sha256(client_key).digest(), stored)
            and hmac.compare_digest(server_key, server))


def login_plan(apps: Iterable[Mapping[str, Any]], rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Which of each app's two login roles the apps use, from the database's state (no secret in the result).

    ``apps``: the store's apps (name, password); ``rows``: (rolname, rolcanlogin, rolpassword) of the
    login roles as pg_authid has them (missing roles: absent). Per app:
      current  - the role the apps must use: the one that can log in with the inventory's password;
                 else the only one that can log in (a password change not rotated yet); else the app's
                 name (a new store);
      rotated  - whether ``current`` already has the inventory's password;
      login    - the roles that can log in now;
      add      - the role "rotate" (phase add) gives the inventory's password and LOGIN ("" when
                 ``rotated``): the one that cannot log in;
      stale    - the roles phase drop makes NOLOGIN without a password (login roles but ``current``,
                 once ``rotated``);
      complete - whether both roles exist (a converge of this kit version made them);
      problem  - why neither converge nor rotation can tell which role the apps use ("" when they can).
    """
    state = {str(r["rolname"]): r for r in rows}
    plan = []
    for app in apps:
        roles = login_roles(str(app["name"]))
        login = [r for r in roles if r in state and _flag(state[r].get("rolcanlogin"))]
        matching = [r for r in login if scram_matches(state[r].get("rolpassword"), app.get("password"))]
        problem = ""
        if matching:
            current = matching[0]
        elif len(login) == 1:
            current = login[0]
        elif not login:
            current = roles[0]
        else:
            current = roles[0]
            problem = (f"both login roles of app {app['name']} ({', '.join(roles)}) can log in and neither has "
                       "the inventory's password: an interrupted rotation whose new password was changed again. "
                       "Put back the password of that rotation, run playbooks/rotate_credentials.yml to finish it, "
                       "then rotate to the new one.")
        rotated = bool(matching)
        add = "" if rotated else (next((r for r in roles if r not in login), "") if login else current)
        plan.append({
            "name": str(app["name"]), "roles": roles, "current": current,
            "rotated": rotated, "login": login, "add": add,
            "stale": [r for r in login if r != current] if rotated else [],
            "complete": all(r in state for r in roles), "problem": problem,
        })
    return plan


def login_entries(pair: Iterable[Any]) -> list[dict[str, Any]]:
    """The two login roles of one app as a converge leaves them: ``pair`` is (app, its login_plan entry).

    The role in use: LOGIN with the inventory's password. The other: NOLOGIN without a password, or
    untouched (password None: left as it is) while a rotation is under way and it can still log in.
    """
    app, plan = list(pair)
    limit = app.get("connection_limit")
    entries = [{"role": str(plan["current"]), "password": str(app["password"]), "login": True,
                "connection_limit": limit}]
    for role in plan["roles"]:
        if role != plan["current"]:
            entries.append({"role": str(role), "password": None if role in plan["login"] else "",
                            "login": role in plan["login"], "connection_limit": limit})
    return entries


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def client_apps(apps: Iterable[Mapping[str, Any]], clients_dir: str,
                plan: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """The apps as the client view publishes them: ``name`` is the login role the apps use now (see
    login_plan; the app's name without a plan), ``app`` the app's name, ``login_roles`` both roles, and
    the paths of the kit's client certificate of the login role (CN = role name)."""
    current = {str(p["name"]): str(p["current"]) for p in plan}
    return [{
        "name": current.get(str(app["name"]), str(app["name"])), "app": str(app["name"]),
        "login_roles": login_roles(str(app["name"])),
        "password": str(app["password"]), "table": str(app["table"]),
        "idle_timeout": app["idle_timeout"], "absolute_timeout": app["absolute_timeout"],
        "connection_limit": app.get("connection_limit"),
        "client_cert_local": f"{clients_dir}/{current.get(str(app['name']), str(app['name']))}.crt",
        "client_key_local": f"{clients_dir}/{current.get(str(app['name']), str(app['name']))}.key",
    } for app in apps]


def role_settings(settings: Mapping[str, Any]) -> dict[str, str]:
    """Per-role settings as postgresql_user's configuration wants them (string values, booleans on/off)."""
    return {str(k): ("on" if v else "off") if isinstance(v, bool) else str(v) for k, v in settings.items()}


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {
            "postgresql_session_store_bad_cidrs": bad_cidrs,
            "postgresql_session_store_bad_listen_addresses": bad_listen_addresses,
            "postgresql_session_store_conf_value": conf_value,
            "postgresql_session_store_effective_apps": effective_apps,
            "postgresql_session_store_app_problems": app_problems,
            "postgresql_session_store_connection_problems": connection_problems,
            "postgresql_session_store_password_problem": password_problem,
            "postgresql_session_store_logging_problems": logging_problems,
            "postgresql_session_store_log_directory_problem": log_directory_problem,
            "postgresql_session_store_weak_ciphers": weak_ciphers,
            "postgresql_session_store_settings_problems": settings_problems,
            "postgresql_session_store_extra_grants": extra_grants,
            "postgresql_session_store_client_apps": client_apps,
            "postgresql_session_store_login_plan": login_plan,
            "postgresql_session_store_login_roles": login_roles,
            "postgresql_session_store_login_entries": login_entries,
            "postgresql_session_store_scram_matches": scram_matches,
            "postgresql_session_store_role_settings": role_settings,
            "postgresql_session_store_patroni_value": patroni_value,
            "postgresql_session_store_hba_line": hba_line,
            "postgresql_session_store_dcs_member": dcs_member,
            "postgresql_session_store_member_address": member_address,
            "postgresql_session_store_node": node,
            "postgresql_session_store_dcs_differs": dcs_differs,
            "postgresql_session_store_patroni_parameters": patroni_parameters,
            "postgresql_session_store_patroni_member": patroni_member,
        }
