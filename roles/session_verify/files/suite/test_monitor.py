"""The monitor (role session_monitor): Prometheus scrapes every store exporter over mutual TLS.

From the client side: Prometheus' own API on the monitor host says every target the inventory names is
up, scraped over HTTPS with the label store, and the kit's alert rules are loaded; each exporter's
TLS listener answers the monitor's client certificate (the control) and refuses a scrape without one,
and plain HTTP. Skipped when the inventory has no session_monitors host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONTEXT, host_for
from exporter import fetch_from_monitor

MONITORS: list[dict[str, Any]] = list(CONTEXT.get("monitors") or [])
_NO_MONITOR = "no session_monitors host in the inventory (role session_monitor)"
# Each exporter target of each monitor: (monitor, job, address, labels).
TARGETS = [(mon, job["job_name"], group["targets"][0], group["labels"])
           for mon in MONITORS for job in mon.get("jobs", []) for group in job["targets"]]
# The series each exporter kind answers with when it reaches its store.
UP_SERIES = {"redis": "redis_up 1", "postgresql": "pg_up 1"}
# Runs on the monitor host: one GET of Prometheus' API on its configured listener.
API_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"


def api(mon: dict[str, Any], path: str) -> dict[str, Any]:
    """GET http://LISTEN/api/v1/PATH on the monitor host (its listener is loopback by default)."""
    out = host_for(str(mon["name"])).check_output("python3 -c %s %s", API_GET, f"http://{mon['listen']}/api/v1/{path}")
    data = json.loads(out)
    assert data["status"] == "success", data
    return dict(data["data"])


def expected(mon: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    return {(job["job_name"], group["targets"][0]): group["labels"] for job in mon["jobs"] for group in job["targets"]}


def rule_names(path: str) -> set[str]:
    groups = yaml.safe_load(Path(path).read_text())["groups"]
    return {str(rule.get("alert") or rule.get("record")) for group in groups for rule in group["rules"]}


MONITOR_PARAMS: list[Any] = list(MONITORS) or [None]
TARGET_PARAMS: list[Any] = list(TARGETS) or [pytest.param(None, None, None, None,
                                                           marks=pytest.mark.skip(reason=_NO_MONITOR))]


@pytest.fixture(params=MONITOR_PARAMS, ids=[str(m["name"]) for m in MONITORS] or ["none"], scope="module")
def mon(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param is None:
        pytest.skip(_NO_MONITOR)
    return dict(request.param)


def test_every_store_exporter_is_a_target_and_up(mon: dict[str, Any]) -> None:
    """Every exporter the inventory turns on is a target, scraped over HTTPS, labelled store, and up
    (its last scrape succeeded: TLS verified both ways). Waits up to 90 s for first scrapes."""
    want = expected(mon)
    assert want, f"{mon['name']}: no target (no store host with metrics on)"
    deadline = time.monotonic() + 90
    while True:
        active = api(mon, "targets?state=active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t for t in active}
        down = {key: t.get("lastError") or t["health"] for key, t in seen.items() if t["health"] != "up"}
        if (set(seen) == set(want) and not down) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert set(seen) == set(want)
    assert down == {}
    for key, target in seen.items():
        assert target["scrapeUrl"].startswith("https://"), target["scrapeUrl"]
        assert {name: target["labels"][name] for name in ("store", "host", "kind")} == want[key]


def test_the_kit_alert_rules_are_loaded(mon: dict[str, Any]) -> None:
    """Prometheus loaded every rule of the collection's rules file, from the file the role installed."""
    groups = api(mon, "rules")["groups"]
    loaded = {str(rule["name"]) for group in groups for rule in group["rules"]}
    assert loaded == rule_names(str(mon["rules_file"]))
    assert {group["file"] for group in groups} == {mon["rules_dest"]}


@pytest.mark.parametrize(("target", "job", "address", "labels"), TARGET_PARAMS,
                         ids=[f"{t[0]['name']}>{t[3]['host']}" for t in TARGETS] or ["none"])
def test_exporter_refuses_a_scrape_without_the_client_certificate(
        target: dict[str, Any], job: str, address: str, labels: dict[str, str]) -> None:
    """The exporter's TLS listener answers the monitor's client certificate (the control) and refuses the
    same request without one, and plain HTTP: nothing of /metrics without a certificate of the metrics CA."""
    url = f"https://{address}/metrics"
    ok = fetch_from_monitor(target, url)
    assert ok["status"] == 200 and UP_SERIES[labels["kind"]] in ok["body"].splitlines(), ok["error"]
    refused = fetch_from_monitor(target, url, client_cert=False)
    assert refused["status"] is None, (job, refused["status"], refused["body"][:200])
    assert "certificate" in refused["error"].lower() or "reset" in refused["error"].lower(), refused["error"]
    plain = fetch_from_monitor(target, f"http://{address}/metrics", client_cert=False)
    assert UP_SERIES[labels["kind"]] not in plain["body"], plain["body"][:200]
    assert plain["status"] in (None, 400), plain
