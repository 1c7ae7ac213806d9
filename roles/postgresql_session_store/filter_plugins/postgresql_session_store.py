"""Filters that validate input and render postgresql.conf values."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


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
        return bool(_HOSTNAME.match(text))
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


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {
            "postgresql_session_store_bad_cidrs": bad_cidrs,
            "postgresql_session_store_bad_listen_addresses": bad_listen_addresses,
            "postgresql_session_store_conf_value": conf_value,
        }
