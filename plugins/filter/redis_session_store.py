"""Input checks and client view of the redis_session_store role.

* ``redis_session_store_problems(settings)`` lists every input error (empty
  when the input is good), each naming the variable. The messages never hold a
  secret: the caller runs it in a no_log task and reports the list separately.
* ``redis_session_store_ha_primary(lines, peers, hint)`` decides the primary
  of an HA group from a survey of its Sentinels and nodes (see tasks/ha.yml).
* ``redis_session_store_users_view(users)`` returns the app users with their
  defaults filled in (``locking``), as the client view publishes them.

Every pattern is matched with ``re.fullmatch``: ``$`` would accept ``"x\\n"``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ansible_collections.hardened.sessions.plugins.module_utils import input_rules as rules
from ansible_collections.hardened.sessions.plugins.module_utils.inventory_values import as_int

MIN_PASSWORD_LENGTH = rules.MIN_PASSWORD_LENGTH
# ACL user names: one token of the aclfile, no ACL rule metacharacters.
USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Key prefixes become the key pattern ~<prefix>*: no whitespace (a tab splits the
# rule and leaves "~*"), no glob characters, no ACL metacharacters.
PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
# A command or command|subcommand; never a category, a key pattern or a rule.
COMMAND_RE = re.compile(r"[a-z][a-z0-9_-]*(\|[a-z][a-z0-9_-]*)?")
# Commands an app user must never get: server administration (@admin,
# @dangerous), keyspace-wide reads or writes, scripting management, pub/sub
# and anything that copies data out of the prefix.
DENIED_COMMANDS = frozenset({
    "acl", "bgrewriteaof", "bgsave", "client", "cluster", "config", "dbsize", "debug", "dump", "failover",
    "flushall", "flushdb", "function", "info", "keys", "lastsave", "latency", "lolwut", "memory", "migrate",
    "module", "monitor", "move", "object", "psubscribe", "psync", "publish", "pubsub", "punsubscribe",
    "randomkey", "replconf", "replicaof", "reset", "restore", "restore-asking", "role", "save", "scan",
    "script", "shutdown", "slaveof", "slowlog", "sort", "sort_ro", "spublish", "ssubscribe", "subscribe",
    "swapdb", "sync", "unsubscribe", "sunsubscribe", "wait", "waitaof", "fcall", "fcall_ro",
})
# Granted through the user's `locking` switch only.
LOCKING_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro"})
# What breaks a line of redis.conf / sentinel.conf where a plain (unhashed) value lands: the
# parser splits at whitespace and reads a token opening with a quote as a quoted string.
REDIS_TOKEN_SEPARATORS = " \"'"
REDIS_TOKEN_WHAT = "redis.conf and sentinel.conf split their lines at whitespace and quotes"


def _password_problems(var: str, value: Any, min_length: int) -> list[str]:
    return rules.password_problems(var, value, min_length, REDIS_TOKEN_SEPARATORS, REDIS_TOKEN_WHAT)


def _command_problems(var: str, commands: Any) -> list[str]:
    if not isinstance(commands, list) or not commands:
        return [f"{var} must be a non-empty list of command names."]
    errors = []
    for command in commands:
        name = str(command).strip().lower() if isinstance(command, str) else ""
        if not COMMAND_RE.fullmatch(name):
            errors.append(f"{var}: {command!r} is not a command name (no categories, rules or key patterns).")
            continue
        base = name.split("|", 1)[0]
        if base in LOCKING_COMMANDS:
            errors.append(f"{var}: {base.upper()} is granted by the user's `locking` switch only "
                          "(phpredis session locking), not through the command list.")
        elif base in DENIED_COMMANDS:
            errors.append(f"{var}: {base.upper()} is an administrative, dangerous or keyspace-wide command "
                          "and is never granted to app users.")
    return errors


def _cipher_problems(var: str, value: Any) -> list[str]:
    return rules.cipher_problems(var, value)


def _user_problems(index: int, user: Any, reserved: set[str], min_length: int) -> list[str]:
    var = f"redis_session_store_app_users[{index}]"
    if not isinstance(user, Mapping):
        return [f"{var} must be a mapping with name, password and key_prefix."]
    name = user.get("name")
    if isinstance(name, str) and USER_RE.fullmatch(name):
        var += f" ({name})"
    errors = []
    if not isinstance(name, str) or not USER_RE.fullmatch(name):
        errors.append(f"{var}.name must be letters, digits and '_.-' (at most 64, no whitespace or ACL "
                      f"metacharacters; got {name!r}).")
    elif name in reserved:
        errors.append(f"{var}.name must not be one of {', '.join(sorted(reserved))} (reserved).")
    errors += _password_problems(f"{var}.password", user.get("password"), min_length)
    prefix = user.get("key_prefix")
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        errors.append(f"{var}.key_prefix must be letters, digits and '_.:-' (no whitespace, glob characters "
                      f"or ACL metacharacters; got {prefix!r}).")
    if "commands" in user:
        errors += _command_problems(f"{var}.commands", user["commands"])
    if "locking" in user and not isinstance(user["locking"], bool):
        errors.append(f"{var}.locking must be true or false (got {user['locking']!r}).")
    return errors


def _overlap_problems(users: list[Any]) -> list[str]:
    named = [(i, str(u.get("name")), str(u["key_prefix"])) for i, u in enumerate(users)
             if isinstance(u, Mapping) and isinstance(u.get("key_prefix"), str) and u["key_prefix"]]
    errors = []
    for i, name, prefix in named:
        for j, other, other_prefix in named:
            if i != j and other_prefix.startswith(prefix) and (prefix != other_prefix or i < j):
                errors.append(f"redis_session_store_app_users[{i}] ({name}).key_prefix {prefix!r} also matches "
                              f"the keys of redis_session_store_app_users[{j}] ({other}), prefix "
                              f"{other_prefix!r}: prefixes must not overlap.")
    names = [u.get("name") for u in users if isinstance(u, Mapping)]
    for name in sorted({str(n) for n in names if names.count(n) > 1}):
        errors.append(f"redis_session_store_app_users holds the user name {name!r} twice.")
    return errors


# Further strings that land on a line of redis.conf, sentinel.conf, the ACL file or the
# engine's OpenSSL config (keys of ``settings``): (separators refused, what they break).
LINE_SETTINGS: dict[str, tuple[str, str]] = {
    "bind": (REDIS_TOKEN_SEPARATORS, REDIS_TOKEN_WHAT),
    "ha_group": (REDIS_TOKEN_SEPARATORS, REDIS_TOKEN_WHAT),
    "ha_initial_primary": (REDIS_TOKEN_SEPARATORS, REDIS_TOKEN_WHAT),
    "client_host": (REDIS_TOKEN_SEPARATORS, REDIS_TOKEN_WHAT),
    "admin_rules": ("", ""),
    "save": ('"', 'the value is written inside double quotes'),
}


def _line_problems(settings: Mapping[str, Any]) -> list[str]:
    errors = []
    if "tls_groups" in settings:
        errors += rules.groups_problems("redis_session_store_tls_groups", settings["tls_groups"])
    for key, (separators, what) in LINE_SETTINGS.items():
        if key in settings:
            errors += rules.line_problems({f"redis_session_store_{key}": settings[key]}, separators, what)
    return errors


def problems(settings: Mapping[str, Any]) -> list[str]:
    """Every input error of the role (keys: the variable names without the role prefix)."""
    errors: list[str] = []
    min_length = as_int(settings.get("min_password_length"))
    if min_length is None or min_length < MIN_PASSWORD_LENGTH:
        errors.append(f"redis_session_store_min_password_length must be at least {MIN_PASSWORD_LENGTH} "
                      f"(got {settings.get('min_password_length')!r}).")
        min_length = MIN_PASSWORD_LENGTH
    admin = settings.get("admin_user")
    reload_user = str(settings.get("reload_user", ""))
    rotate_user = str(settings.get("rotate_user", ""))
    if not isinstance(admin, str) or not USER_RE.fullmatch(admin) or admin in ("default", reload_user, rotate_user):
        errors.append(f"redis_session_store_admin_user must be letters, digits and '_.-', not 'default' nor "
                      f"{reload_user!r} (got {admin!r}).")
    errors += _password_problems("redis_session_store_admin_password", settings.get("admin_password"), min_length)
    errors += _command_problems("redis_session_store_app_commands", settings.get("app_commands"))
    for var in ("tls_ciphers", "tls_ciphersuites"):
        errors += _cipher_problems(f"redis_session_store_{var}", settings.get(var))
    errors += _line_problems(settings)
    if settings.get("ha") in (True, "true", "True", "yes"):
        for var in ("replication_password", "sentinel_password", "check_password"):
            errors += _password_problems(f"redis_session_store_{var}", settings.get(var), min_length)
        passwords = [settings.get(k) for k in ("admin_password", "replication_password", "sentinel_password",
                                                "check_password")]
        if len({p for p in passwords if isinstance(p, str) and p}) < len([p for p in passwords if p]):
            errors.append("redis_session_store_replication_password, redis_session_store_sentinel_password, "
                          "redis_session_store_check_password and redis_session_store_admin_password must all "
                          "differ (each user has its own secret).")
    users = settings.get("app_users")
    if not isinstance(users, list):
        return [*errors, "redis_session_store_app_users must be a list."]
    reserved = {"default", reload_user, str(settings.get("rotate_user", "")), str(admin)} - {""}
    for index, user in enumerate(users):
        errors += _user_problems(index, user, reserved, min_length)
    errors += _overlap_problems(users)
    return errors


SURVEY_PORT_RE = re.compile(r"[0-9]{1,5}")
CONNECTED_RE = re.compile(r"connected_slaves:([0-9]+)")


def ha_primary(lines: list[str], peers: list[str], hint: str) -> dict[str, Any]:
    """The primary of an HA group from survey lines (tasks/ha.yml).

    ``sentinel <peer> <host> <port>``: what that Sentinel names as primary
    (fewer words: it did not answer). ``role <peer> <role> [connected_slaves:N]``:
    the node's ROLE. The Sentinels' majority wins; without any answer, the one
    primary that has replicas; without one, the inventory's hint (a new group).
    """
    votes: Counter[str] = Counter()
    roles: dict[str, dict[str, Any]] = {}
    for line in lines or []:
        words = str(line).split()
        if len(words) == 4 and words[0] == "sentinel" and SURVEY_PORT_RE.fullmatch(words[3]) \
                and words[2] in peers:
            votes[words[2]] += 1
        elif len(words) >= 3 and words[0] == "role" and words[2] in ("master", "slave"):
            found = CONNECTED_RE.fullmatch(words[3]) if len(words) > 3 else None
            roles[words[1]] = {"role": words[2], "replicas": int(found.group(1)) if found else 0}
    if votes:
        ranked = votes.most_common()
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            return {"primary": ranked[0][0], "source": f"Sentinels ({dict(votes)})", "roles": roles}
    masters = sorted(p for p, r in roles.items() if r["role"] == "master" and r["replicas"] > 0)
    if len(masters) == 1:
        return {"primary": masters[0], "source": "the only node with replicas", "roles": roles}
    return {"primary": hint, "source": "the inventory hint (new group)", "roles": roles}


def users_view(users: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """App users with their defaults filled in (holds passwords: no_log)."""
    return [{"locking": True, **dict(user)} for user in users or []]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"redis_session_store_problems": problems, "redis_session_store_users_view": users_view,
                "redis_session_store_ha_primary": ha_primary}
