"""Filters of the session_monitor role.

``session_monitor_scrape_jobs(redis_views, postgresql_views)`` turns the
stores' client views (facts ``redis_session_store_client`` and
``postgresql_session_store_client``) into Prometheus scrape jobs: one per
exporter kind, one target per store host with metrics on, labelled ``store``
(the HA group or scope, else the host) and ``host`` (the inventory name).
``session_monitor_target_problems`` names what keeps the monitor from
scraping an exporter over TLS (a loopback listener, no TLS on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Exporter kind -> (Prometheus job name, the key of the view naming its HA group, the role's variable prefix).
KINDS = {
    "redis": ("session_kit_redis", "ha_group", "redis_session_store"),
    "postgresql": ("session_kit_postgresql", "ha_scope", "postgresql_session_store"),
}


def _address(view: Mapping[str, Any]) -> str:
    host = str(view["metrics_listen_address"])
    return f"[{host}]:{int(view['metrics_port'])}" if ":" in host else f"{host}:{int(view['metrics_port'])}"


def _enabled(views: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    return [view for view in views or [] if view.get("metrics_enabled") in (True, "True", "true")]


def _truthy(value: Any) -> bool:
    return value in (True, "True", "true")


def scrape_jobs(redis_views: list[dict[str, Any]] | None,
                postgresql_views: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The scrape jobs of the stores' exporters, from their client views: per kind (redis, postgresql) a job
    named C(session_kit_<kind>) with one static target per host with metrics on (its exporter's listener,
    labels C(store): the HA group or scope, else the host; C(host): the inventory name), sorted by host.
    Kinds without a target are left out."""
    jobs = []
    for kind, views in (("redis", redis_views), ("postgresql", postgresql_views)):
        job_name, group_key, _ = KINDS[kind]
        targets = []
        for view in sorted(_enabled(views), key=lambda v: str(v["name"])):
            store = str(view.get(group_key) or "") if _truthy(view.get("ha")) else ""
            targets.append({"targets": [_address(view)],
                            "labels": {"store": store or str(view["name"]), "host": str(view["name"]),
                                       "kind": kind}})
        if targets:
            jobs.append({"job_name": job_name, "targets": targets})
    return jobs


def target_problems(redis_views: list[dict[str, Any]] | None,
                    postgresql_views: list[dict[str, Any]] | None) -> list[str]:
    """What keeps the monitor from scraping each exporter with metrics on over TLS with its client
    certificate: a listener on loopback (unreachable from the monitor's host) or without TLS, one sentence
    per host naming the variable to set. Empty when every exporter can be scraped."""
    problems = []
    for kind, views in (("redis", redis_views), ("postgresql", postgresql_views)):
        prefix = KINDS[kind][2]
        for view in sorted(_enabled(views), key=lambda v: str(v["name"])):
            if str(view["metrics_listen_address"]) in LOOPBACK:
                problems.append(f"{view['name']}: {prefix}_metrics_listen_address is {view['metrics_listen_address']}"
                                f" (loopback): set it to an address of the host the monitor reaches")
            if not _truthy(view.get("metrics_tls")):
                problems.append(f"{view['name']}: {prefix}_metrics_tls is off: the monitor scrapes over TLS with"
                                f" its client certificate only")
    return problems


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"session_monitor_scrape_jobs": scrape_jobs, "session_monitor_target_problems": target_problems}
