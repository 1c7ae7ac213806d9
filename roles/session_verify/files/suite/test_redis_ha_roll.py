"""Rolling restart of a Redis/Valkey HA group under load (issue 23; playbooks/redis_roll.yml).

The redis-ha scenario's side effect (last step) marks the server configuration changed on every
node while a bounded loop of session requests goes through the app "shop" (HAProxy on the app
host), runs playbooks/redis.yml, then the same again. It records in
MOLECULE_EPHEMERAL_DIRECTORY/roll-redis/ the loop's figures (load.json), both runs' recaps
(runs.json) and each node's server start time and role before and after (nodes.json). These tests
prove: every node restarted, one at a time, the primary last after one failover; the failed
requests fall in one window at most (that failover) and no acknowledged write was lost; the same
run again changed nothing. Without that record (any other inventory) they are skipped.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import scenario_record
from drill_records import check_loop, check_rerun, read, systemd_epoch

RECORD = scenario_record("roll-redis", "nodes.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no rolling-restart record (the molecule redis-ha "
                                                       "scenario's side effect writes it)")


def record(name: str) -> Any:
    return read(RECORD, name)


def nodes() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    data = record("nodes.json")
    assert data and all(len(times) == 2 for times in data.values()), data
    return {name: (times[0], times[1]) for name, times in data.items()}


def test_every_node_restarted_one_at_a_time() -> None:
    data = nodes()
    for name, (before, after) in data.items():
        assert systemd_epoch(after["started"]) > systemd_epoch(before["started"]), (name, before, after)
    started = sorted(systemd_epoch(after["started"]) for _, after in data.values())
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(started)]
    print(f"\nRedis restarts {gaps} s apart")
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_the_primary_went_last_after_one_failover() -> None:
    data = nodes()
    old = [name for name, (before, _) in data.items() if before["role"] == "master"]
    new = [name for name, (_, after) in data.items() if after["role"] == "master"]
    assert len(old) == 1 and len(new) == 1, (old, new)
    assert old != new, f"the primary {old[0]} restarted without a failover"
    last = max(data, key=lambda name: systemd_epoch(data[name][1]["started"]))
    assert last == old[0], f"{last} restarted last, not the old primary {old[0]}"


def test_failed_requests_fall_in_one_failover_and_no_write_was_lost() -> None:
    check_loop(record("load.json"), "Redis rolling restart under load")


def test_the_same_run_again_changed_nothing() -> None:
    check_rerun(record("runs.json"), "roll")
