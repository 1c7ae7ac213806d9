"""Rolling restart of a PostgreSQL HA cluster under load (issue 23; playbooks/postgresql_roll.yml).

The postgresql-ha scenario's side effect (last step) runs playbooks/postgresql.yml with a
setting that needs a restart (shared_buffers 144MB) after marking etcd's environment file
changed on every member, while a bounded loop of session requests goes through the app
"ledger", then runs it again. It records in MOLECULE_EPHEMERAL_DIRECTORY/roll-pg/ the loop's
figures (load.json), both runs' recaps (runs.json) and each member's etcd and PostgreSQL start
times, shared_buffers and role before and after (members.json). These tests prove, from the
records and the client's side: every member's etcd and PostgreSQL restarted, one member at a
time, the primary last after one switchover; the requests that failed fall in one window at
most (that switchover) and no acknowledged session write was lost; the same run again changed
nothing. Without that record (any other inventory) they are skipped.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import scenario_record
from drill_records import check_loop, check_rerun, read, systemd_epoch

RECORD = scenario_record("roll-pg", "members.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no rolling-restart record (the molecule postgresql-ha "
                                                       "scenario's side effect writes it)")


def record(name: str) -> Any:
    return read(RECORD, name)


def members() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Member -> (before, after)."""
    data = record("members.json")
    assert data and all(len(times) == 2 for times in data.values()), data
    return {name: (times[0], times[1]) for name, times in data.items()}


def test_every_member_restarted_etcd_and_postgresql() -> None:
    for name, (before, after) in members().items():
        assert systemd_epoch(after["etcd"]) > systemd_epoch(before["etcd"]), (name, before, after)
        assert float(after["postgresql"]) > float(before["postgresql"]), (name, before, after)
        assert after["shared_buffers"] == "144MB", (name, after)
        assert before["shared_buffers"] != "144MB", (name, before)


@pytest.mark.parametrize("service", ["etcd", "postgresql"])
def test_members_restarted_one_at_a_time(service: str) -> None:
    """The restarts are spread out: each member started after the previous one came back."""
    started = sorted(systemd_epoch(a["etcd"]) if service == "etcd" else float(a["postgresql"])
                     for _, a in members().values())
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(started)]
    print(f"\n{service} restarts {gaps} s apart")
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_the_primary_went_last_after_one_switchover() -> None:
    data = members()
    old = [name for name, (before, _) in data.items() if before["primary"]]
    new = [name for name, (_, after) in data.items() if after["primary"]]
    assert len(old) == 1 and len(new) == 1, (old, new)
    assert old != new, f"the primary {old[0]} restarted without handing over"
    last = max(data, key=lambda name: float(data[name][1]["postgresql"]))
    assert last == old[0], f"{last} restarted last, not the old primary {old[0]}"


def test_failed_requests_fall_in_one_switchover_and_no_write_was_lost() -> None:
    assert RECORD is not None
    logs = RECORD / "app-errors.txt"
    check_loop(record("load.json"), "PostgreSQL rolling restart under load",
               logs=logs.read_text(errors="replace") if logs.is_file() else "")


def test_the_same_run_again_changed_nothing() -> None:
    check_rerun(record("runs.json"), "roll")
