"""Which member of each HA store takes writes now, and (--move) a switchover off the inventory's first member.

Run by session_verify before the suite (not a test file: pytest does not
collect it), with the same context (KIT_VERIFY_CONTEXT). Prints one JSON
object: {"postgresql": {scope: {...}}, "redis": {group: {...}}, "moved": bool}
with, per store, the inventory's first member, the primary before and after,
and whether this run moved it.

--move (session_verify_move_primaries: the lab and the HA scenarios) makes
sure the primary is NOT the first member of the inventory group when the
suite starts, so that no check and no client can pass only because "the
first host" happens to be the primary:
- PostgreSQL (Patroni): ``patronictl switchover --candidate <a synchronous
  standby that is not first> --force`` on a member, then wait until that
  member leads and every other member streams again;
- Redis/Valkey (Sentinel): ``SENTINEL FAILOVER <name>`` as admin until a
  node that is not first is primary, then wait until every Sentinel names it
  and every replica is attached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import redis
from conftest import CONTEXT, REDIS_HA_GROUPS, host_for, suite_client_cert
from pg_client import members_of, writer_of
from redis_ha_client import sentinel_admin, settled

Store = dict[str, Any]

PATRONI_CONFIG = "/etc/patroni/config.yml"  # the postgresql_session_store role's Patroni configuration
TIMEOUT = 180.0


def patroni_members(member: Store) -> list[dict[str, Any]]:
    """``patronictl list`` of the cluster, asked on one member."""
    out = host_for(member["name"]).check_output("patronictl -c %s list -f json", PATRONI_CONFIG)
    return list(json.loads(out))


def _pg_settled_on(members: list[Store], leader: str) -> bool:
    rows = patroni_members(next(m for m in members if m["name"] == leader))
    roles = {str(r["Member"]): (str(r["Role"]).lower(), str(r["State"]).lower()) for r in rows}
    return (len(roles) == len(members) and roles.get(leader, ("", ""))[0] == "leader"
            and all(state in ("streaming", "running") for _, state in roles.values()))


def _settled(members: list[Store], leader: str) -> bool:
    try:
        return _pg_settled_on(members, leader)
    except (AssertionError, RuntimeError, ValueError, StopIteration):
        return False


def _switch_over(members: list[Store], scope: str, leader: str, deadline: float) -> str:
    """Switch over from ``leader`` to a standby once every member streams; the candidate's name.

    A scenario's drills (a member replaced, a rolling restart) may leave a standby still catching up:
    Patroni then refuses the switchover ("candidate not healthy", no synchronous standby yet), so
    wait until the cluster is settled on ``leader`` and ask again until ``deadline``."""
    others = [m["name"] for m in members if m["name"] != leader]
    while True:
        error = "the cluster did not settle"
        if _settled(members, leader):
            rows = {str(r["Member"]): str(r["Role"]).lower() for r in patroni_members(members[1])}
            # Synchronous (Patroni 3: "Sync Standby") or quorum (Patroni 4: "Quorum Standby") mode: Patroni
            # switches over only to a synchronous standby.
            candidate = next((n for n in others if rows.get(n) in ("sync standby", "quorum standby")), others[0])
            try:
                host_for(members[1]["name"]).check_output(
                    "patronictl -c %s switchover %s --candidate %s --force", PATRONI_CONFIG, scope, candidate)
                return candidate
            except AssertionError as exc:  # testinfra: a non-zero exit
                error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                print(f"patronictl switchover to {candidate}: {error}", file=sys.stderr)
        if time.monotonic() > deadline:
            raise SystemExit(f"PostgreSQL {scope}: no switchover off {leader} within {TIMEOUT:.0f} s: {error}")
        time.sleep(3)


def postgresql(move: bool) -> dict[str, dict[str, Any]]:
    """Each PostgreSQL HA cluster: its first member and its primary (moved off the first one with ``move``)."""
    result: dict[str, dict[str, Any]] = {}
    for scope in dict.fromkeys(str(s["ha_scope"]) for s in CONTEXT.get("postgresql", []) if s.get("ha")):
        members = members_of(next(s for s in CONTEXT["postgresql"] if s.get("ha_scope") == scope))
        first, before = members[0]["name"], writer_of(members[0])["name"]
        entry = {"first": first, "before": before, "primary": before, "moved": False}
        result[scope] = entry
        if not move or before != first or len(members) < 2:
            continue
        deadline = time.monotonic() + TIMEOUT
        candidate = _switch_over(members, scope, before, deadline)
        while True:
            try:
                if writer_of(members[0], timeout=10)["name"] == candidate and _pg_settled_on(members, candidate):
                    break
            except (AssertionError, RuntimeError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"PostgreSQL {scope}: {candidate} did not lead with every member streaming "
                                 f"within {TIMEOUT:.0f} s of the switchover")
            time.sleep(2)
        entry.update(primary=candidate, moved=True)
    return result


def redis_groups(move: bool) -> dict[str, dict[str, Any]]:
    """Each Redis/Valkey HA group: its first node and its primary (moved off the first one with ``move``)."""
    cert = suite_client_cert()
    result: dict[str, dict[str, Any]] = {}
    for name, group in REDIS_HA_GROUPS.items():
        first, before = group[0]["name"], settled(group, cert)["name"]
        entry = {"first": first, "before": before, "primary": before, "moved": False}
        result[name] = entry
        if not move or before != first or len(group) < 2:
            continue
        deadline = time.monotonic() + TIMEOUT
        primary = before
        while primary == first:
            if time.monotonic() > deadline:
                raise SystemExit(f"Redis {name}: {first} still primary {TIMEOUT:.0f} s after SENTINEL FAILOVER")
            try:
                sentinel_admin(group[1], cert).execute_command("SENTINEL", "FAILOVER", group[1]["ha_name"])
            except redis.ResponseError as exc:  # INPROG: one is under way; NOGOODSLAVE: replicas not ready yet
                print(f"SENTINEL FAILOVER: {exc}", file=sys.stderr)
            time.sleep(5)
            # Every Sentinel agrees and every replica is attached again.
            primary = settled(group, cert)["name"]
        entry.update(primary=primary, moved=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--move", action="store_true", help="switch over off the first member where it leads")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"postgresql": postgresql(args.move), "redis": redis_groups(args.move)}
    out["moved"] = any(e["moved"] for kind in ("postgresql", "redis") for e in out[kind].values())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
