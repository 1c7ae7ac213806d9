"""Prometheus exporters of the stores (the *_metrics_enabled options): what the metrics tests share.

The exporter's listener is reached on the store host itself (it binds loopback by default), so the
suite fetches /metrics there and reads the listening sockets of the exporter's own process.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import host_for

Store = dict[str, Any]


def with_metrics(store: Store, option: str) -> Store:
    """The store, or skip: its role's ``option`` (``*_metrics_enabled``) is off."""
    if not store.get("metrics_enabled"):
        pytest.skip(f"{store['name']}: {option} is false")
    return store


def listen_address(store: Store) -> str:
    """The exporter's listener as host:port (an IPv6 address in brackets)."""
    address = str(store["metrics_listen_address"])
    return f"{'[' + address + ']' if ':' in address else address}:{int(store['metrics_port'])}"


def scrape(store: Store) -> list[str]:
    """The exporter's /metrics lines, fetched on the store host from its configured listener."""
    url = f"http://{listen_address(store)}/metrics"
    code = f"import urllib.request; print(urllib.request.urlopen({json.dumps(url)}, timeout=30).read().decode())"
    return str(host_for(store["name"]).check_output("python3 -c %s", code)).splitlines()


def assert_listens_only_where_configured(store: Store) -> None:
    """The exporter's process runs and listens on its configured address and port, nowhere else."""
    host = host_for(store["name"])
    service = store["metrics_service"]
    pid = host.check_output(f"systemctl show -p MainPID --value {service}").strip()
    assert pid not in ("", "0"), f"{service} is not running"
    sockets = {line.split()[3] for line in host.check_output("runuser -u prometheus -- ss -Htlnp").splitlines()
               if f"pid={pid}," in line}
    assert sockets == {listen_address(store)}
