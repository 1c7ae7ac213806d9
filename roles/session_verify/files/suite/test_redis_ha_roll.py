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
import json
from datetime import datetime
from typing import Any

import pytest
from conftest import scenario_record

RECORD = scenario_record("roll-redis", "nodes.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no rolling-restart record (the molecule redis-ha "
                                                       "scenario's side effect writes it)")
# Seconds the one failure window (the failover) may last: Sentinel's promotion plus HAProxy's
# check interval, about 8 s measured on the lab (docs/ha-redis.md "Rolling restarts").
MAX_WINDOW_S = 30.0


def record(name: str) -> Any:
    assert RECORD is not None
    return json.loads((RECORD / name).read_text())


def epoch(stamp: str) -> float:
    """systemd's ExecMainStartTimestamp (--timestamp=us+utc), e.g. 'Mon 2026-12-07 12:00:00.123456 UTC'."""
    return datetime.strptime(stamp, "%a %Y-%m-%d %H:%M:%S.%f %Z").timestamp()


def nodes() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    data = record("nodes.json")
    assert data and all(len(times) == 2 for times in data.values()), data
    return {name: (times[0], times[1]) for name, times in data.items()}


def test_every_node_restarted_one_at_a_time() -> None:
    data = nodes()
    for name, (before, after) in data.items():
        assert epoch(after["started"]) > epoch(before["started"]), (name, before, after)
    started = sorted(epoch(after["started"]) for _, after in data.values())
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(started)]
    print(f"\nRedis restarts {gaps} s apart")
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_the_primary_went_last_after_one_failover() -> None:
    data = nodes()
    old = [name for name, (before, _) in data.items() if before["role"] == "master"]
    new = [name for name, (_, after) in data.items() if after["role"] == "master"]
    assert len(old) == 1 and len(new) == 1, (old, new)
    assert old != new, f"the primary {old[0]} restarted without a failover"
    last = max(data, key=lambda name: epoch(data[name][1]["started"]))
    assert last == old[0], f"{last} restarted last, not the old primary {old[0]}"


def test_failed_requests_fall_in_one_failover_and_no_write_was_lost() -> None:
    figures = record("load.json")
    windows = figures["failure_windows"]
    print(f"\nRedis rolling restart under load: {figures['requests']} requests, {figures['failures']} failed, "
          f"windows {windows}, {figures['seconds']} s")
    assert len(windows) <= 1, (windows, figures["errors"])
    assert all(end - start <= MAX_WINDOW_S for start, end, _ in windows), windows
    assert figures["regressions"] == 0, figures["errors"]
    assert all(u["requests"] >= 20 for u in figures["per_url"].values()), figures["per_url"]
    assert all(figures["sessions"].values()), figures["sessions"]


def test_the_same_run_again_changed_nothing() -> None:
    runs = record("runs.json")
    assert runs["roll"]["rc"] == 0, runs["roll"]
    assert runs["rerun"]["rc"] == 0, runs["rerun"]
    recap = runs["rerun"]["recap"]
    assert len(recap) >= 3, recap
    assert all(" changed=0 " in f"{line} " and " failed=0 " in f"{line} " for line in recap), recap
