"""Filters that build certificate subject alternative names."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def san_list(names: Iterable[object], local: bool = False) -> list[str]:
    """Turn host names and addresses into a sorted, de-duplicated SAN list.

    Empty and undefined-looking values are dropped; IP addresses become
    ``IP:`` entries (normalised), everything else ``DNS:`` (lower-cased).
    With ``local`` the loopback names are added.
    """
    candidates = [str(n).strip() for n in names if n is not None]
    if local:
        candidates += ["localhost", "127.0.0.1", "::1"]
    dns: set[str] = set()
    ips: set[str] = set()
    for value in candidates:
        if not value:
            continue
        if _is_ip(value):
            ips.add(str(ipaddress.ip_address(value)))
        else:
            dns.add(value.lower().rstrip("."))
    return [f"DNS:{d}" for d in sorted(dns)] + [f"IP:{i}" for i in sorted(ips)]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"session_pki_san_list": san_list}
