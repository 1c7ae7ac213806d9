"""The HA drills' record helpers (suite/drill_records.py) on redis-cli's plain output."""

from __future__ import annotations

from drill_records import info_fields, kv_entries


def test_sentinel_lists_split_into_entries() -> None:
    lines = ["name", "rha-2:6379", "ip", "rha-2", "flags", "slave", "name", "rha-3:6379", "flags", "s_down,slave"]
    assert kv_entries(lines) == [{"name": "rha-2:6379", "ip": "rha-2", "flags": "slave"},
                                 {"name": "rha-3:6379", "flags": "s_down,slave"}]
    assert kv_entries([]) == []
    assert kv_entries(["ip", "x"]) == [], "fields before a name belong to no entry"


def test_info_fields() -> None:
    lines = ["# Replication", "role:slave", "master_host:rha-1", "master_link_status:up", ""]
    assert info_fields(lines) == {"role": "slave", "master_host": "rha-1", "master_link_status": "up"}
