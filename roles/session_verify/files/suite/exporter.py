"""Prometheus exporters of the stores (the *_metrics_enabled options): what the metrics tests share.

An exporter on loopback (the default) is reached on the store host itself; one with TLS on its
listener (*_metrics_tls, a client certificate of the metrics CA required) from the monitor's host
(role session_monitor), with the monitor's own client certificate, as Prometheus scrapes it. The
listening sockets are read from the exporter's own process.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from conftest import CONTEXT, host_for

Store = dict[str, Any]

# Runs on the monitor host as root (the monitor's key is root:prometheus 0640): one HTTP(S) GET, the
# server verified against the metrics CA, with or without the monitor's client certificate. Prints
# JSON: the HTTP status (None when no response came) and the body, or the error.
FETCH = """
import json, ssl, sys, urllib.request
url, ca, cert, key = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
try:
    with urllib.request.urlopen(url, timeout=20, context=ctx) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode(errors="replace"), "error": ""}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode(errors="replace"), "error": str(e)}))
except Exception as e:
    print(json.dumps({"status": None, "body": "", "error": f"{type(e).__name__}: {e}"}))
"""


def with_metrics(store: Store, option: str) -> Store:
    """The store, or skip: its role's ``option`` (``*_metrics_enabled``) is off."""
    if not store.get("metrics_enabled"):
        pytest.skip(f"{store['name']}: {option} is false")
    return store


def listen_address(store: Store) -> str:
    """The exporter's listener as host:port (an IPv6 address in brackets)."""
    address = str(store["metrics_listen_address"])
    return f"{'[' + address + ']' if ':' in address else address}:{int(store['metrics_port'])}"


def monitor() -> dict[str, Any] | None:
    """The first session_monitor host of the context (None: the inventory has none)."""
    monitors = CONTEXT.get("monitors") or []
    return dict(monitors[0]) if monitors else None


def fetch_from_monitor(mon: dict[str, Any], url: str, client_cert: bool = True) -> dict[str, Any]:
    """GET ``url`` on the monitor host, verifying the server against the metrics CA; with the monitor's
    client certificate unless ``client_cert`` is false."""
    argv = ["python3", "-c", FETCH, url, str(mon["ca_cert"]),
            str(mon["cert"]) if client_cert else "", str(mon["key"]) if client_cert else ""]
    result = host_for(str(mon["name"])).ansible("ansible.builtin.command", json.dumps({"argv": argv}),
                                                check=False, become=True)
    assert result.get("rc") == 0, result.get("stderr") or result.get("msg")
    return dict(json.loads(str(result["stdout"])))


def scrape(store: Store) -> list[str]:
    """The exporter's /metrics lines: fetched on the store host from its loopback listener, or with TLS
    on the listener from the monitor host with the monitor's client certificate (skip without one)."""
    if store.get("metrics_tls"):
        mon = monitor()
        if mon is None:
            pytest.skip(f"{store['name']}: the exporter requires a client certificate of the metrics CA and the "
                        "inventory has no session_monitors host holding one")
        answer = fetch_from_monitor(mon, f"https://{listen_address(store)}/metrics")
        assert answer["status"] == 200, answer["error"]
        return str(answer["body"]).splitlines()
    url = f"http://{listen_address(store)}/metrics"
    code = f"import urllib.request; print(urllib.request.urlopen({json.dumps(url)}, timeout=30).read().decode())"
    return str(host_for(store["name"]).check_output("python3 -c %s", code)).splitlines()


def _resolved(host: Any, address: str) -> str:
    """An IP address as is; a name as the store host resolves it (the exporter binds what it resolves)."""
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        return str(host.check_output("getent ahostsv4 %s", address).split()[0])


def assert_listens_only_where_configured(store: Store) -> None:
    """The exporter's process runs and listens on its configured address and port, nowhere else."""
    host = host_for(store["name"])
    service = store["metrics_service"]
    pid = host.check_output(f"systemctl show -p MainPID --value {service}").strip()
    assert pid not in ("", "0"), f"{service} is not running"
    sockets = {line.split()[3] for line in host.check_output("runuser -u prometheus -- ss -Htlnp").splitlines()
               if f"pid={pid}," in line}
    address = _resolved(host, str(store["metrics_listen_address"]))
    assert sockets == {listen_address(store | {"metrics_listen_address": address})}
