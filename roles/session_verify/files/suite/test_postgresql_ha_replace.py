"""Replacing a dead PostgreSQL HA member with no manual step (issue 23; etcd_session_dcs join).

The postgresql-ha scenario's side effect removes a standby's host with its data and creates it
again empty, while a bounded loop of session requests goes through the app "ledger", then runs
playbooks/postgresql.yml and the same again. It records in MOLECULE_EPHEMERAL_DIRECTORY/replace-pg/
the loop's figures (load.json) and replace.json: the victim, both runs' recaps, and each member's
view of the etcd member list and of Patroni's members afterwards. These tests prove: the new host
is an etcd member again (its old entry gone, no unstarted or stale entry left, every member sees
the same three), it streams as a Patroni standby, the loop's session went on with no acknowledged
write lost, and the re-run changed nothing. Without that record (any other inventory) they are
skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import scenario_record
from drill_records import check_loop, check_rerun, read

RECORD = scenario_record("replace-pg", "replace.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no replace record (the molecule postgresql-ha scenario's "
                                                       "side effect writes it)")


def record(name: str) -> Any:
    return read(RECORD, name)


def test_every_member_sees_the_same_three_started_etcd_members() -> None:
    data = record("replace.json")
    views = data["etcd"]
    assert set(views) == set(data["patroni"]), views
    names = set(views)
    for member, listed in views.items():
        assert sorted(m.get("name", "") for m in listed) == sorted(names), (member, listed)
        assert len({m["peerURLs"][0] for m in listed}) == len(names), (member, listed)
        assert len({str(m["ID"]) for m in listed}) == len(names), (member, listed)
    ids = [sorted(str(m["ID"]) for m in listed) for listed in views.values()]
    assert all(i == ids[0] for i in ids), ids


def test_the_new_host_streams_as_a_standby() -> None:
    data = record("replace.json")
    victim = data["victim"]
    for member, rows in data["patroni"].items():
        roles = {r["Member"]: (r["Role"], r["State"]) for r in rows}
        assert set(roles) == set(data["patroni"]), (member, roles)
        assert roles[victim][0] != "Leader" and roles[victim][1] in ("streaming", "running"), (member, roles)
        assert [n for n, (role, _) in roles.items() if role == "Leader"], (member, roles)


def test_the_session_went_on_without_losing_a_write() -> None:
    # No bound on the window's length: a standby's loss costs no switchover.
    check_loop(record("load.json"), "PostgreSQL member replaced under load", max_window_s=None)


def test_the_same_run_again_changed_nothing() -> None:
    check_rerun(record("replace.json")["runs"], "replace")
