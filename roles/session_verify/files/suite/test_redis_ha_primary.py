"""Redis/Valkey HA groups: one primary, the apps' proxy follows it, a failover under load.

Every Sentinel names the one primary and the apps reach it through their
local proxy; then the primary's container is stopped while sessions are
requested through an app: no session is lost, requests succeed again within
the budget, the old primary rejoins as a replica. The figures are printed
and written to a JSON file.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from app_client import new_session, reply, request
from conftest import host_for
from redis_ha_client import App, Store, admin, apps_of, by_announce, named_primary, node, role, settled, wait_for

# Failover budget: seconds from the primary's stop until requests succeed again.
RECOVERY_TARGET_S = 15.0
# The load loop: at most this long, one request per PERIOD_S.
LOAD_WINDOW_S = 60.0
PERIOD_S = 0.2


# --- one primary, named by every Sentinel; the apps' proxy follows it ----------------


def test_every_sentinel_names_the_one_primary(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    primary = settled(ha_group, client_cert)
    masters = [s["name"] for s in ha_group if role(s, client_cert)[0] == "master"]
    assert masters == [primary["name"]]


def test_app_reaches_the_primary_through_its_local_proxy(ha_group: list[Store],
                                                         client_cert: tuple[str, str] | None) -> None:
    apps = apps_of(ha_group)
    if not apps:
        pytest.skip("no app with the live probe uses this HA group")
    primary = settled(ha_group, client_cert)
    for app in apps:
        sid = new_session(app)
        assert reply(app, request(app, "GET", "/probe/session", sid))["count"] == 2
        store_key = next(u["key_prefix"] for u in primary["app_users"] if u["name"] == app["store_user"]) + sid
        assert admin(primary, client_cert).exists(store_key) == 1
        host = host_for(app["name"])
        listening = host.check_output("ss -Htln")
        local = [line.split()[3] for line in listening.splitlines()
                 if line.split()[3].endswith(f":{primary['proxy_port']}")]
        assert local == [f"127.0.0.1:{primary['proxy_port']}"], listening
        cfg = host.run("stat -c '%U:%G %a' /etc/haproxy/haproxy.cfg").stdout.strip()
        assert cfg == "root:haproxy 640"


# --- failover under load ------------------------------------------------------------


class Load:
    """A bounded loop of session requests through an app, recording (time, ok)."""

    def __init__(self, app: App, sid: str) -> None:
        self.app, self.sid = app, sid
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_WINDOW_S + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                response = request(self.app, "GET", "/probe/session", self.sid, status=None)
                ok = response.status_code == 200 and response.json().get("id") == self.sid
            except Exception:  # any failure of a request counts as a failed request
                ok = False
            self.results.append((time.monotonic(), ok))
            time.sleep(PERIOD_S)


def _report_path(engine: str, distro: str) -> Path:
    """KIT_HA_REPORT_DIR (kept after the run: CI collects the figures there), else the molecule
    ephemeral dir (removed by molecule's destroy), else the temp dir."""
    base = (os.environ.get("KIT_HA_REPORT_DIR") or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
            or tempfile.gettempdir())
    return Path(base) / f"redis-ha-failover-{engine}-{distro}.json"


def test_failover_under_load(ha_group: list[Store], client_cert: tuple[str, str] | None) -> None:
    apps = apps_of(ha_group)
    if not apps:
        pytest.skip("no app with the live probe uses this HA group")
    app = apps[0]
    old = settled(ha_group, client_cert)
    distro = str(host_for(old["name"]).system_info.codename)
    report = _report_path(str(old["engine"]), distro)
    prefix = next(u["key_prefix"] for u in old["app_users"] if u["name"] == app["store_user"])
    # Sessions written before the window: each counted to 2 through the app.
    before = [new_session(app) for _ in range(20)]
    for sid in before:
        assert reply(app, request(app, "GET", "/probe/session", sid))["count"] == 2
    time.sleep(2)  # replication is asynchronous; the window below starts after this
    load = Load(app, new_session(app))
    load.thread.start()
    time.sleep(3)
    stopped_at = time.monotonic()
    subprocess.run(["docker", "stop", "-t", "1", old["name"]], check=True, capture_output=True, timeout=60)
    try:
        # Requests succeed again: 3 s of successes in a row after the stop.
        def recovered() -> bool:
            recent = [ok for t, ok in load.results if t > stopped_at]
            return len(recent) >= 15 and all(recent[-15:])
        wait_for("requests through the app succeed again", recovered, LOAD_WINDOW_S)
        load.stop.set()
        load.thread.join(timeout=30)
        after = [(t, ok) for t, ok in load.results if t >= stopped_at]
        failures = [t for t, ok in after if not ok]
        recovery = (max(failures) - stopped_at + PERIOD_S) if failures else 0.0
        survivors = [s for s in ha_group if s is not old]
        new_name = named_primary(survivors[0], client_cert)
        assert new_name and new_name != old["announce_host"], f"no new primary elected (Sentinel names {new_name})"
        new = by_announce(ha_group, new_name)
        assert role(new, client_cert)[0] == "master"
        # Every session written before the window is on the new primary with its TTL ...
        conn = admin(new, client_cert)
        idle = int(app["idle_timeout"])
        lost = [sid for sid in before if not conn.exists(prefix + sid)]
        ttls = [conn.ttl(prefix + sid) for sid in before]
        # ... and the app reads it where it left it.
        counts = [reply(app, request(app, "GET", "/probe/session", sid))["count"] for sid in before]
        figures = {
            "engine": old["engine"], "distro": distro, "old_primary": old["name"], "new_primary": new["name"],
            "requests": len(load.results), "requests_after_stop": len(after), "failed_requests": len(failures),
            "seconds_to_recovery": round(recovery, 1), "recovery_target_s": RECOVERY_TARGET_S,
            "sessions_before_window": len(before), "sessions_lost": len(lost),
            "ttl_min": min(ttls), "ttl_max": max(ttls), "idle_timeout": idle,
        }
        print(f"\nFAILOVER FIGURES {json.dumps(figures)}")
        report.write_text(json.dumps(figures, indent=2) + "\n")
        assert not lost, f"sessions lost in the failover: {len(lost)} of {len(before)}"
        assert all(0 < ttl <= idle for ttl in ttls), ttls
        assert all(idle - ttl < 120 for ttl in ttls), f"TTLs not kept: {ttls}"
        assert counts == [3] * len(before), counts
        assert recovery <= RECOVERY_TARGET_S, figures
    finally:
        load.stop.set()
        subprocess.run(["docker", "start", old["name"]], check=True, capture_output=True, timeout=60)
    # The old primary, started again, rejoins as a replica of the new one.
    def rejoined() -> bool:
        info = admin(old, client_cert).info("replication")
        return info["role"] == "slave" and info["master_link_status"] == "up" and \
            info["master_host"] == new["announce_host"]
    seconds = wait_for("the old primary rejoins as a replica", rejoined, 90)
    figures["seconds_to_rejoin_after_start"] = round(seconds, 1)
    print(f"REJOIN FIGURES {json.dumps({'old_primary': old['name'], 'seconds_to_rejoin': round(seconds, 1)})}")
    report.write_text(json.dumps(figures, indent=2) + "\n")
    assert settled(ha_group, client_cert)["name"] == new["name"]
    # phpredis' lock release script is on the promoted primary and on every node after the failover (SCRIPT LOAD
    # is not replicated: each node loads it at its own start), and a locking app user releases its lock there.
    for store in ha_group:
        assert admin(store, client_cert).script_exists(store["lock_release_sha"]) == [True], store["name"]
    locking = next((u for u in new["app_users"] if u.get("locking", True)), None)
    if locking is not None:
        tenant = node(new, client_cert, locking["name"], locking["password"])
        lock = f"{locking['key_prefix']}failover-{time.monotonic_ns()}_LOCK"
        assert tenant.set(lock, "token", nx=True, ex=30)
        assert tenant.evalsha(new["lock_release_sha"], 1, lock, "token") == 1
        assert tenant.exists(lock) == 0

