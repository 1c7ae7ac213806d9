"""etcd_session_dcs: how a member whose data directory is empty joins (issue 23, replace and resize)."""

from __future__ import annotations

from typing import Any

import pytest
from etcd_session_dcs import initial_cluster, join_plan

URL = "https://10.0.0.3:2380"
KNOWN = [{"name": f"pg-{i}", "address": f"10.0.0.{i}"} for i in (1, 2, 3)]


def answer(members: list[dict[str, Any]], status: int = 200, address: str = "10.0.0.1") -> dict[str, Any]:
    return {"status": status, "json": {"members": members}, "item": {"name": "pg-1", "address": address}}


def member(ident: int, name: str, url: str) -> dict[str, Any]:
    return {"ID": str(ident), "name": name, "peerURLs": [url]}


RUNNING = [member(1, "pg-1", "https://10.0.0.1:2380"), member(2, "pg-2", "https://10.0.0.2:2380")]


def test_no_peer_answers_a_new_cluster_bootstraps() -> None:
    plan = join_plan([{"status": -1, "msg": "refused"}, {"status": 503}], "pg-3", URL)
    assert plan["mode"] == "new" and plan["remove"] == [] and plan["add"] is False


def test_a_replaced_host_removes_its_old_entry_then_adds_itself() -> None:
    plan = join_plan([{"status": -1}, answer([*RUNNING, member(3, "pg-3", URL)], address="10.0.0.2")], "pg-3", URL)
    assert plan == {"mode": "join", "remove": ["3"], "add": True, "peer": "10.0.0.2",
                    "members": [*RUNNING, member(3, "pg-3", URL)]}


def test_a_replaced_host_with_a_new_address_removes_the_old_one() -> None:
    plan = join_plan([answer([*RUNNING, member(3, "pg-3", "https://10.0.0.9:2380")])], "pg-3", URL)
    assert plan["remove"] == ["3"] and plan["add"] is True


def test_an_added_member_joins_without_removing_anything() -> None:
    plan = join_plan([answer(RUNNING)], "pg-3", URL)
    assert plan["mode"] == "join" and plan["remove"] == [] and plan["add"] is True


def test_an_entry_waiting_for_this_member_is_used_as_it_is() -> None:
    """A cluster that formed without this slow member lists it unstarted (no name): start, add nothing."""
    plan = join_plan([answer([*RUNNING, {"ID": "3", "peerURLs": [URL]}])], "pg-3", URL)
    assert plan["mode"] == "join" and plan["remove"] == [] and plan["add"] is False


def test_initial_cluster_names_every_member_the_unstarted_ones_by_inventory() -> None:
    members = [*RUNNING, {"ID": "3", "peerURLs": [URL]}, {"ID": "4", "peerURLs": ["https://10.0.0.4:2380"]}]
    known = [*KNOWN, {"name": "pg-4", "address": "10.0.0.4"}]
    assert initial_cluster(members, "pg-3", URL, known, 2380) == (
        "pg-1=https://10.0.0.1:2380,pg-2=https://10.0.0.2:2380,pg-3=https://10.0.0.3:2380,pg-4=https://10.0.0.4:2380")


def test_initial_cluster_refuses_an_unknown_unstarted_member() -> None:
    with pytest.raises(ValueError, match="10.0.0.7"):
        initial_cluster([*RUNNING, {"ID": "7", "peerURLs": ["https://10.0.0.7:2380"]}], "pg-3", URL, KNOWN, 2380)
