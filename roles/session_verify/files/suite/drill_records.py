"""The HA drills' records (not a test file: pytest does not collect it).

The postgresql-ha and redis-ha side effects run a day-2 operation under session_load.py's loop,
then the operator's playbook again, and write their records under MOLECULE_EPHEMERAL_DIRECTORY
(conftest.scenario_record finds them). test_postgresql_ha_roll.py, test_postgresql_ha_replace.py,
test_redis_ha_roll.py and test_redis_ha_replace.py read them with these helpers and check them with the same rules: the
loop's failures in one window at most (a switchover or failover), no acknowledged write lost,
and the re-run changed nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

# Seconds the one failure window (a planned switchover or failover) may last: the promotion plus
# the clients' reconnect, measured 2026-12 (docs/ha-postgresql.md, docs/ha-redis.md "Rolling restarts").
MAX_WINDOW_S = 30.0


def read(record: Path | None, name: str) -> Any:
    """A JSON file of a drill's record directory."""
    assert record is not None
    return json.loads((record / name).read_text())


def systemd_epoch(stamp: str) -> float:
    """systemd's ExecMainStartTimestamp (--timestamp=us+utc), e.g. 'Mon 2026-12-07 12:00:00.123456 UTC'."""
    return datetime.strptime(stamp, "%a %Y-%m-%d %H:%M:%S.%f %Z").timestamp()


def kv_entries(lines: list[str]) -> list[dict[str, str]]:
    """SENTINEL REPLICAS/SENTINELS as redis-cli prints them without a terminal: key and value lines,
    one entry after another, each starting with "name"."""
    found: list[dict[str, str]] = []
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        if key == "name":
            found.append({})
        if found:
            found[-1][key] = value
    return found


def info_fields(lines: list[str]) -> dict[str, str]:
    """An INFO section's "field:value" lines (headers and blank lines dropped)."""
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def check_loop(figures: dict[str, Any], what: str, max_window_s: float | None = MAX_WINDOW_S, logs: str = "") -> None:
    """session_load.py's figures: failures in one window at most (no longer than ``max_window_s`` when
    given), no count regression (no acknowledged write lost), >= 20 requests per URL, every session alive.
    ``logs``: what the drill kept when requests failed (the app host's errors), shown with a failure."""
    windows = figures["failure_windows"]
    print(f"\n{what}: {figures['requests']} requests, {figures['failures']} failed, "
          f"windows {windows}, {figures['seconds']} s")
    detail = f"\n{figures['errors'][:5]}\n{logs}" if logs else figures["errors"][:5]
    assert figures["regressions"] == 0, figures["errors"]
    assert len(windows) <= 1, (windows, detail)
    if max_window_s is not None:
        assert all(end - start <= max_window_s for start, end, _ in windows), (windows, detail)
    assert all(u["requests"] >= 20 for u in figures["per_url"].values()), figures["per_url"]
    assert all(figures["sessions"].values()), figures["sessions"]


def check_rerun(runs: dict[str, Any], first: str) -> None:
    """The operator's run (``first``) and the same run again (``rerun``): both rc 0, and the re-run's
    recap (at least 3 hosts) changed=0 and failed=0 on every host."""
    assert runs[first]["rc"] == 0, runs[first]
    assert runs["rerun"]["rc"] == 0, runs["rerun"]
    recap = runs["rerun"]["recap"]
    assert len(recap) >= 3, recap
    assert all(" changed=0 " in f"{line} " and " failed=0 " in f"{line} " for line in recap), recap
