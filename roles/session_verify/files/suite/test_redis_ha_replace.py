"""A dead Redis/Valkey replica replaced under load (issue 23, item 2).

The redis-ha scenario's side effect removes a replica's host with its data and creates it again
empty while a bounded loop of session requests goes through the app "shop", then runs
playbooks/redis.yml (the operator's command) and the same again. It records in
MOLECULE_EPHEMERAL_DIRECTORY/replace-redis/ the loop's figures (load.json), both runs' recaps and
the victim (runs.json), and per node its replication state, its key count and its Sentinel's view
of the group (NODE.json). These tests prove: the replaced node replicates again with its link up and
holds as many keys as the primary; every Sentinel lists exactly the group's replicas and Sentinels,
none down (no stale entry of the old host); the loop's failures fall in one window at most with no
acknowledged write lost; the same run again changed nothing. Without that record they are skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import scenario_record
from drill_records import check_loop, check_rerun, info_fields, kv_entries, read

RECORD = scenario_record("replace-redis", "runs.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no replacement record (the molecule redis-ha "
                                                       "scenario's side effect writes it)")
REPLICAS = "-p 26379 SENTINEL REPLICAS sessions"
SENTINELS = "-p 26379 SENTINEL SENTINELS sessions"


def nodes() -> dict[str, dict[str, Any]]:
    victim = read(RECORD, "runs.json")["victim"]
    assert RECORD is not None
    data = {path.stem: read(RECORD, path.name) for path in sorted(RECORD.glob("*.json"))
            if path.stem not in ("runs", "load")}
    assert victim in data and len(data) >= 3, (victim, sorted(data))
    return data


def test_the_replaced_node_replicates_again_with_the_primarys_keys() -> None:
    data = nodes()
    victim = read(RECORD, "runs.json")["victim"]
    roles = {name: info_fields(node["INFO replication"]).get("role") for name, node in data.items()}
    primaries = [name for name, role in roles.items() if role == "master"]
    assert len(primaries) == 1, roles
    mine = info_fields(data[victim]["INFO replication"])
    assert mine.get("role") == "slave" and mine.get("master_link_status") == "up", mine
    keys = {name: int(node["DBSIZE"][0]) for name, node in data.items()}
    print(f"\nreplaced {victim}; keys per node {keys}")
    assert keys[victim] == keys[primaries[0]] > 0, keys


def test_every_sentinel_lists_the_group_and_nothing_stale() -> None:
    data = nodes()
    for name, node in data.items():
        replicas, sentinels = kv_entries(node[REPLICAS]), kv_entries(node[SENTINELS])
        assert len(replicas) == len(data) - 1, (name, [r.get("name") for r in replicas])
        assert len(sentinels) == len(data) - 1, (name, [s.get("name") for s in sentinels])
        flags = [(e.get("name"), e.get("flags", "")) for e in replicas + sentinels]
        assert all(set(f.split(",")) <= {"slave", "sentinel"} for _, f in flags), (name, flags)


def test_failed_requests_fall_in_one_window_and_no_write_was_lost() -> None:
    check_loop(read(RECORD, "load.json"), "Redis replica replaced under load")


def test_the_same_run_again_changed_nothing() -> None:
    check_rerun(read(RECORD, "runs.json")["runs"], "replace")
