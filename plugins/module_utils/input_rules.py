"""Input rules every role of the kit shares (the filter plugins' validation uses them).

One place for what the roles' ``*_problems`` filters used to copy: the weak-cipher rule, the
example-placeholder check, the minimum password length, the reserved system accounts, the
rule for strings that land in a line-based configuration file, and path nesting.

Every function returns messages (or "") that name the variable and never hold its value when
it may be a secret: callers run them in ``no_log`` tasks and report the messages separately.
Every pattern is matched with ``re.fullmatch`` or ``re.search``: ``$`` would accept ``"x\\n"``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

MIN_PASSWORD_LENGTH = 16
PLACEHOLDER_RE = re.compile(r"(?i)change-?me")
# The common weak-cipher check of the kit's roles (OpenSSL cipher lists and TLS 1.3 suites).
WEAK_CIPHERS_RE = re.compile(
    r"(?i)(^|:)\+?([A-Z0-9-]*(NULL|EXPORT|EXP-|RC4|DES-CBC|3DES|MD5|ADH|AECDH|PSK|SRP)[A-Z0-9-]*"
    r"|ALL|DEFAULT|COMPLEMENTOF[A-Z]+|LOW|MEDIUM|DES|EXP|SSLv3)(:|$)")
WEAK_SECLEVEL_RE = re.compile(r"(?i)@SECLEVEL=[01]")
CIPHER_CHARS_RE = re.compile(r"[A-Za-z0-9_:+!@.=-]+")
# OpenSSL group (curve) lists: names separated by ':'.
GROUPS_RE = re.compile(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*")
# C0 and C1 control characters, DEL and the Unicode line/paragraph separators: each ends or
# corrupts a line of some configuration format (newline, CR, NUL, vertical tab, form feed, ...).
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]")
WHITESPACE_RE = re.compile(r"\s")

# System and service accounts (and their groups) no role, user or app of the kit may be:
# a pool, a GC job or a database role named like one would hold its privileges or files, and
# the role would rewrite that account.
RESERVED_ACCOUNTS = frozenset({
    # Debian/Ubuntu base system
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "tty", "disk", "kmem", "dialout", "fax",
    "voice", "cdrom", "floppy", "tape", "sudo", "audio", "dip", "operator", "src", "shadow", "utmp", "video",
    "sasl", "plugdev", "staff", "users", "input", "kvm", "render", "sgx", "netdev", "crontab", "messagebus",
    "ssh", "sshd", "ssl-cert", "polkitd", "tss", "wheel", "admin", "_apt", "uuidd", "tcpdump", "syslog",
    "landscape", "pollinate", "dnsmasq", "avahi", "colord", "ntp", "ntpsec", "chrony", "_chrony", "postfix",
    "postdrop", "exim", "Debian-exim", "statd", "_rpc", "usbmux", "rtkit", "geoclue", "fwupd-refresh",
    "docker", "lxd", "libvirt", "ansible", "ubuntu", "debian", "halt", "shutdown", "ftp",
    # services the kit installs or fronts
    "postgres", "postgresql", "redis", "valkey", "etcd", "patroni", "haproxy", "nginx", "apache", "httpd",
    "php", "php-fpm", "mysql", "memcache",
})
# Prefixes of system accounts (systemd's own users, Debian's _-prefixed service users).
RESERVED_PREFIXES = ("systemd-", "_")


def is_reserved_account(name: Any) -> bool:
    """Whether ``name`` is a system or service account (case-insensitive)."""
    text = str(name).strip().lower()
    return text in {a.lower() for a in RESERVED_ACCOUNTS} or text.startswith(RESERVED_PREFIXES)


def reserved_problem(var: str, name: Any, kit_accounts: Iterable[Any] = ()) -> str:
    """A message when ``name`` is a reserved system account or one of ``kit_accounts``."""
    text = str(name)
    if is_reserved_account(text):
        return (f"{var} must not be the system or service account {text!r} (root, daemon, nobody, www-data, "
                "redis, valkey, postgres, etcd, haproxy, nginx, _apt, systemd-* and the like are reserved).")
    kit = {str(a) for a in kit_accounts if a}
    if text in kit:
        return f"{var} must not be {text!r}: the kit uses that account itself."
    return ""


def line_problem(var: str, value: Any, separators: str = "", what: str = "") -> str:
    """Why ``value`` cannot be written into a line-based configuration file ("" when it can).

    Control characters (newline, CR, NUL, ...) are always refused: they end the line and let the
    rest become a directive of its own. ``separators`` are the format's own characters that break
    the value where it lands (" " for a space-separated token, ";" for nginx, ...); ``what``
    names them in the message. The value itself is never in the message (it may be a secret).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return ""
    text = str(value)
    if CONTROL_RE.search(text):
        return (f"{var} must not contain control characters (newline, carriage return, NUL, tab, ...): "
                "they would end the configuration line and inject what follows.")
    if " " in separators and WHITESPACE_RE.search(text):
        return f"{var} must not contain whitespace: it is one token of the configuration line."
    found = sorted({c for c in text if c in separators and c != " "})
    if found:
        return (f"{var} must not contain {' '.join(repr(c) for c in found)}"
                f"{' (' + what + ')' if what else ''}: it would break the configuration line.")
    return ""


def line_problems(values: Mapping[str, Any], separators: str = "", what: str = "") -> list[str]:
    """``line_problem`` for each variable of ``values`` (name -> value); lists and mappings are
    checked item by item (``var[0]``, ``var[0].key``, ``var.key``)."""
    errors: list[str] = []
    for var, value in values.items():
        errors += _walk(str(var), value, separators, what)
    return errors


def _walk(var: str, value: Any, separators: str, what: str) -> list[str]:
    if isinstance(value, Mapping):
        errors = []
        for key, item in value.items():
            errors += _walk(f"{var}.{key}", item, separators, what)
            key_problem = line_problem(f"{var} (key {str(key)[:40]!r})", key, separators, what) \
                if not CONTROL_RE.search(str(key)) else f"{var} has a key with control characters."
            errors += [key_problem] if key_problem else []
        return errors
    if isinstance(value, (list, tuple)):
        errors = []
        for index, item in enumerate(value):
            errors += _walk(f"{var}[{index}]", item, separators, what)
        return errors
    problem = line_problem(var, value, separators, what)
    return [problem] if problem else []


def password_problems(var: str, value: Any, min_length: int = MIN_PASSWORD_LENGTH,
                      separators: str = "", what: str = "") -> list[str]:
    """The kit's password rule: set, not the example placeholder, long enough, and safe on the
    configuration line it lands in (``separators`` as in ``line_problem``)."""
    if not isinstance(value, str) or not value:
        return [f"{var} must be set (vault)."]
    if PLACEHOLDER_RE.match(value):
        return [f"{var} is the example placeholder (CHANGE-ME...): put a real secret in the vault."]
    if len(value) < min_length:
        return [f"{var} must have at least {min_length} characters."]
    problem = line_problem(var, value, separators, what)
    return [problem] if problem else []


def weak_ciphers(value: Any) -> bool:
    """True when an OpenSSL cipher list is malformed or enables a weak suite or security level."""
    text = value if isinstance(value, str) else ""
    return (not CIPHER_CHARS_RE.fullmatch(text) or bool(WEAK_CIPHERS_RE.search(text))
            or bool(WEAK_SECLEVEL_RE.search(text)))


def cipher_problems(var: str, value: Any) -> list[str]:
    """The kit's cipher rule as messages naming ``var``."""
    text = value if isinstance(value, str) else ""
    if not CIPHER_CHARS_RE.fullmatch(text):
        return [f"{var} must be an explicit OpenSSL cipher list: letters, digits and _:+!@.=- only "
                f"(got {value!r})."]
    if weak_ciphers(text):
        return [f"{var} enables weak ciphers or a low security level (NULL, EXPORT, RC4, 3DES, MD5, "
                f"anonymous, PSK/SRP, ALL/DEFAULT/LOW/MEDIUM or @SECLEVEL=0/1): {value!r}."]
    return []


def groups_problems(var: str, value: Any) -> list[str]:
    """An OpenSSL group list (X25519:P-256:...): names and ':' only."""
    if not isinstance(value, str) or not GROUPS_RE.fullmatch(value):
        return [f"{var} must be OpenSSL group names separated by ':' (letters, digits and _.- only; "
                f"got {value!r})."]
    return []


def norm_path(path: Any) -> str:
    """An absolute path normalized ('//' and '.' removed, '..' resolved lexically)."""
    return posixpath.normpath(re.sub("/+", "/", str(path)))


def within(path: Any, parent: Any) -> bool:
    """Whether ``path`` is ``parent`` or below it (both normalized first)."""
    child, top = norm_path(path), norm_path(parent)
    return child == top or child.startswith(top.rstrip("/") + "/")


def nesting_problems(paths: Mapping[str, Any], private: Iterable[str] = ()) -> list[str]:
    """Private directories must not nest: for every pair of ``paths`` (label -> path) where one is
    the other or below it, a message, unless neither label is in ``private`` (empty: all are)."""
    private_set = set(private) or set(paths)
    items = [(str(k), norm_path(v)) for k, v in paths.items() if v]
    errors = []
    for i, (label, path) in enumerate(items):
        for other, other_path in items[i + 1:]:
            if label not in private_set and other not in private_set:
                continue
            if within(path, other_path) or within(other_path, path):
                errors.append(f"{label} ({path}) and {other} ({other_path}) must not be the same directory or "
                              "lie inside each other: each is private to its owner.")
    return errors
