"""Filters of session_monitor: the scrape jobs built from the stores' client views, and what keeps the
monitor from scraping an exporter over TLS."""

from __future__ import annotations

from typing import Any

from role_filters import load

MONITOR = load("session_monitor")


def redis(name: str, **view: Any) -> dict[str, Any]:
    base = {"name": name, "ha": True, "ha_group": "redis_session_stores", "metrics_enabled": True,
            "metrics_listen_address": f"10.0.0.{len(name)}", "metrics_port": 9121, "metrics_tls": True,
            "metrics_password": "secret-not-in-the-jobs"}
    return base | view


def pg(name: str, **view: Any) -> dict[str, Any]:
    base = {"name": name, "ha": True, "ha_scope": "sessions", "metrics_enabled": True,
            "metrics_listen_address": "10.0.1.1", "metrics_port": "9187", "metrics_tls": "True"}
    return base | view


def test_one_job_per_kind_one_target_per_host_with_the_store_label() -> None:
    jobs = MONITOR.scrape_jobs([redis("r2"), redis("r1", metrics_listen_address="10.0.0.9")], [pg("p1")])
    assert [job["job_name"] for job in jobs] == ["session_kit_redis", "session_kit_postgresql"]
    assert jobs[0]["targets"] == [
        {"targets": ["10.0.0.9:9121"], "labels": {"store": "redis_session_stores", "host": "r1", "kind": "redis"}},
        {"targets": ["10.0.0.2:9121"], "labels": {"store": "redis_session_stores", "host": "r2", "kind": "redis"}}]
    assert jobs[1]["targets"] == [
        {"targets": ["10.0.1.1:9187"], "labels": {"store": "sessions", "host": "p1", "kind": "postgresql"}}]
    assert "secret" not in repr(jobs)


def test_single_nodes_are_their_own_store_and_hosts_without_metrics_are_left_out() -> None:
    jobs = MONITOR.scrape_jobs([redis("r1", ha=False), redis("r2", metrics_enabled=False)], [])
    assert jobs == [{"job_name": "session_kit_redis", "targets": [
        {"targets": ["10.0.0.2:9121"], "labels": {"store": "r1", "host": "r1", "kind": "redis"}}]}]
    assert MONITOR.scrape_jobs(None, [pg("p1", metrics_enabled="False")]) == []


def test_an_ipv6_listener_is_bracketed() -> None:
    job = MONITOR.scrape_jobs([], [pg("p1", metrics_listen_address="fd00::5")])[0]
    assert job["targets"][0]["targets"] == ["[fd00::5]:9187"]


def test_problems_name_the_variable_per_host() -> None:
    problems = MONITOR.target_problems(
        [redis("r1", metrics_listen_address="127.0.0.1"), redis("r2", metrics_tls=False), redis("r3")],
        [pg("p1", metrics_listen_address="::1", metrics_tls="False"), pg("p2", metrics_enabled=False,
                                                                         metrics_tls=False)])
    assert problems == [
        "r1: redis_session_store_metrics_listen_address is 127.0.0.1 (loopback): set it to an address of the host"
        " the monitor reaches",
        "r2: redis_session_store_metrics_tls is off: the monitor scrapes over TLS with its client certificate only",
        "p1: postgresql_session_store_metrics_listen_address is ::1 (loopback): set it to an address of the host"
        " the monitor reaches",
        "p1: postgresql_session_store_metrics_tls is off: the monitor scrapes over TLS with its client certificate"
        " only"]
    assert MONITOR.target_problems([redis("r1")], [pg("p1")]) == []
