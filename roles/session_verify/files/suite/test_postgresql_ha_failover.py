"""PostgreSQL HA session stores (Patroni + etcd): the failover under load.

Run from the postgresql-ha scenario's side_effect (KIT_PG_FAILOVER=1; skipped
otherwise): the primary is killed while an app commits sessions; no
acknowledged session is lost, writes come back within 30 s and the old
primary rejoins as a standby. Only this test may live here: the side_effect
selects it with -k failover, which matches the file's name.

What these files add to the single-node ones, and where their refusals are
tried from: see test_postgresql_ha_replication.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import Any

import pytest
import requests
from app_client import request
from conftest import host_for
from pg_client import NEEDS_CLUSTER, Store, ha_app, in_recovery, is_ha, primary_of, psql

pytestmark = NEEDS_CLUSTER


# --- failover under load (side_effect: KIT_PG_FAILOVER=1) --------------------------------------

def _commit(app: dict[str, Any]) -> str | None:
    """POST /probe/commit: a new session written to the store before the reply. Its id, or None on failure."""
    try:
        response = request(app, "POST", "/probe/commit", status=None)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    return str(response.json()["id"])


def _why_not_back(name: str) -> str:
    """What the old primary's Patroni and PostgreSQL say when it does not rejoin (the failure message)."""
    host = host_for(name)
    parts = []
    for title, command in (("patronictl list", "patronictl -c /etc/patroni/config.yml list"),
                           ("patroni journal", "journalctl -u patroni -n 40 --no-pager -o cat"),
                           ("etcd journal", "journalctl -u etcd -n 15 --no-pager -o cat")):
        try:
            out = host.run(command)
            parts.append(f"--- {title} (rc {out.rc})\n{out.stdout[-4000:]}{out.stderr[-1000:]}")
        except Exception as exc:  # the diagnosis must not hide the failure
            parts.append(f"--- {title}: {type(exc).__name__}: {exc}")
    return "\n".join(parts)


def _present(store: Store, table: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the store's session table holds. Asked in batches: one psql command line must stay
    under the kernel's 128 KiB per argument (an idle machine acknowledges thousands of writes)."""
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        batch = ",".join(f"'{i}'" for i in ids[start:start + 1000])
        found |= set(psql(store, f"SELECT session_id FROM {table} WHERE session_id IN ({batch})",
                          store["database"]).split())
    return found


@pytest.mark.skipif(os.environ.get("KIT_PG_FAILOVER") != "1", reason="runs from the scenario's side_effect "
                    "(KIT_PG_FAILOVER=1): it kills the primary")
def test_failover_under_load_loses_no_acknowledged_session(cluster: list[Store]) -> None:
    app = ha_app()
    old = primary_of(cluster[0])
    acked: list[tuple[float, float, str]] = []  # (request start, reply, session id)
    failures: list[float] = []
    stop = threading.Event()
    killed_at: list[float] = []

    def load() -> None:
        deadline = time.monotonic() + 150
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            sid = _commit(app)
            if sid is None:
                failures.append(started)
                time.sleep(0.2)
            else:
                acked.append((started, time.monotonic(), sid))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(5)
        before = len(acked)
        assert before > 0, f"no write succeeded before the kill ({len(failures)} failures)"
        killed_at.append(time.monotonic())
        subprocess.run(["docker", "kill", old["name"]], check=True, capture_output=True, timeout=30)
        # Writes must come back: stop after 10 s of writes again (requests started after the
        # first failure past the kill), at most 120 s.
        while time.monotonic() - killed_at[0] < 120:
            down = [t for t in failures if t >= killed_at[0]]
            back = [end for start, end, _ in acked if down and start > down[0]]
            if back and time.monotonic() - back[0] > 10:
                break
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=60)
    kill = killed_at[0]
    # In-flight requests may still succeed just after the kill; the outage runs from the kill to the
    # first success of a request started after the first failure (none failed: no outage).
    down = [t for t in failures if t >= kill]
    back = [end for start, end, _ in acked if down and start > down[0]]
    recovery = (back[0] - kill) if back else (0.0 if not down else None)
    failed_after = down
    new = primary_of(next(m for m in cluster if m["name"] != old["name"]), timeout=60)
    ids = [sid for _, _, sid in acked]
    table = f'"{new["schema"]}"."{new["table"]}"'
    present = _present(new, table, ids)
    missing = [i for i in ids if i not in present]
    # The old primary comes back as a standby of the new one.
    subprocess.run(["docker", "start", old["name"]], check=True, capture_output=True, timeout=60)
    started = time.monotonic()
    rejoined = None
    # A former primary that must be rewound, or cloned again, on a loaded machine: up to 5 min.
    while time.monotonic() - started < 300:
        try:
            streaming = psql(new, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                                  f"AND application_name = '{old['name']}'")
            if streaming == "1" and in_recovery(old):
                rejoined = time.monotonic() - started
                break
        except Exception: # the container is still booting
            pass
        time.sleep(2)
    report = {
        "distro_postgresql": new["version"], "old_primary": old["name"], "new_primary": new["name"],
        "requests_acknowledged": len(acked), "acknowledged_before_kill": len([e for _, e, _ in acked if e <= kill]),
        "requests_failed": len(failed_after), "seconds_to_first_write_after_kill": recovery,
        "acknowledged_sessions_missing_on_new_primary": len(missing), "seconds_old_primary_to_rejoin": rejoined,
    }
    print("FAILOVER", json.dumps(report))
    if os.environ.get("KIT_FAILOVER_REPORT"):
        with open(os.environ["KIT_FAILOVER_REPORT"], "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
    assert missing == [], f"acknowledged sessions lost: {len(missing)} of {len(ids)}"
    assert recovery is not None and recovery <= 30, report
    assert rejoined is not None, f"{old['name']} did not rejoin as a standby: {report}\n{_why_not_back(old['name'])}"
    if is_ha(old):
        still = _present(old, table, ids)
        assert still >= set(ids) or not ids, "the rejoined standby lacks acknowledged sessions"

