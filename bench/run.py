"""`make bench`: what the kit's hardening costs, measured side by side on the lab.

Phases (each bounded in count and time; load goes only to 127.0.0.1 published
ports and the project's own containers):

1. Ansible: unchanged re-run of playbooks/lab.yml and a gather-facts-only
   play (cold converge only when the lab is absent or BENCH_COLD=1).
2. Bench hosts (bench/bench.yml): kit-bench-app (nginx + PHP-FPM, one pool
   per variant) and kit-bench-redis (Debian's stock redis-server).
3. PHP session requests with wrk, rounds interleaved across variants, with
   RSS/PSS of redis-server and postgres sampled meanwhile.
4. Store level: redis-benchmark TLS+ACL vs plaintext, pgbench TLS vs socket.
5. Report: table, bench/results/latest.json, bench/results/latest.png;
   the bench containers are removed (BENCH_KEEP=1 keeps them).

Environment: BENCH_COLD=1 (destroy + cold converge), BENCH_SKIP_CONVERGE=1,
BENCH_DURATION (s per wrk round, 8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (10),
BENCH_ONLY (comma-separated PHP variants), BENCH_KEEP=1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kitbench_report import chart, table
from kitbench_tools import Sampler, container_running, docker_exec, loadavg, machine, run

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
BIN = ROOT / ".venv" / "bin"
ENDPOINTS = ROOT / "lab" / "endpoints.json"
INVENTORY = ROOT / "inventories" / "lab" / "hosts.yml"
APP = "kit-bench-app"
PLAIN_REDIS = "kit-bench-redis"
APP_URL = "http://127.0.0.1:18480"
CA_IN_APP = "/srv/bench/ca.crt"
TIMEOUT_S = 2.5  # the kit's php_session_app_redis_timeout default
# Hardened variants: (name, persistent, locking). *_nolock: what the kit's locking
# default (php_session_app_redis_locking) costs.
REDIS_VARIANTS = (("redis_hardened", "0", True), ("redis_hardened_persistent", "1", True),
                  ("redis_hardened_persistent_nolock", "1", False))
# The lab's Redis HA group through the kit's local proxy on the app host; its twin (same
# persistence and locking, direct to the primary) is redis_hardened_persistent.
REDIS_HA_VARIANT = "redis_ha"
# (name, handler, persistent). postgresql_hardened: the kit's wiring (roles/php_session_app:
# SessionKit\PdoSessionHandler, persistent); *_nonpersistent: the same with a connection per
# request; postgresql_incubator: the incubator Database adapter's SQL, a connection per request.
PG_VARIANTS = (("postgresql_hardened", "kit", "1"), ("postgresql_hardened_nonpersistent", "kit", "0"),
               ("postgresql_incubator", "incubator", "0"))
# PostgreSQL HA: postgresql_hardened's wiring (the kit's handler, persistent) against the HA lab's
# cluster (three members, Patroni, synchronous commit) through the multi-host DSN the role renders
# (target_session_attrs=read-write). On an HA lab its twin, postgresql_hardened (and the other
# PostgreSQL variants), runs against the single-node store on kit-bench-pg: the ratio of the two is
# the cost of the zero-loss guarantee.
PG_HA_VARIANT = "postgresql_ha"
# The price of synchronous_commit on the HA cluster (issue 23, item 6): postgresql_ha's wiring with
# the level set per session, each variant sending the same SET per request so the pair differs only
# in the level. The cluster's own setting (Patroni's dynamic configuration) stays the kit's "on".
PG_HA_SYNC_VARIANTS = (("postgresql_ha_sync_on", "on"), ("postgresql_ha_remote_write", "remote_write"))

DURATION = int(os.environ.get("BENCH_DURATION", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "10"))
VALUE_2K = "x" * 2048


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {loadavg()[0]:.2f}] {msg}", flush=True)


def secret(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def ansible_env() -> dict[str, str]:
    return {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}


def playbook(args: list[str], timeout: float, log_name: str = "") -> tuple[float, int, dict[str, Any]]:
    """Run ansible-playbook; (wall seconds, rc, recap: changed/failed counts and the slowest tasks)."""
    res = run([str(BIN / "ansible-playbook"), *args], timeout, env=ansible_env(), cwd=ROOT)
    if log_name:
        (RESULTS / f"{log_name}.log").write_text(res.out + res.err)
    changed = sum(int(m) for m in re.findall(r"changed=(\d+)", res.out))
    failed = sum(int(m) for m in re.findall(r"failed=(\d+)", res.out))
    ok = sum(int(m) for m in re.findall(r"\bok=(\d+)", res.out))
    slow: list[tuple[str, float]] = []
    recap = res.out.split("TASKS RECAP", 1)[-1] if "TASKS RECAP" in res.out else ""
    for line in recap.splitlines():
        match = re.match(r"^(.*?)\s-+\s+([\d.]+)s$", line.strip())
        if match:
            slow.append((match.group(1).strip(), float(match.group(2))))
    by_role: dict[str, float] = {}
    for task, seconds in slow:
        role = task.split(" : ", 1)[0] if " : " in task else "(play tasks)"
        by_role[role] = round(by_role.get(role, 0.0) + seconds, 1)
    changed_tasks: list[str] = []
    current = ""
    for line in res.out.splitlines():
        if line.startswith("TASK ["):
            current = line[6:].split("]", 1)[0]
        elif line.startswith("changed: [") and current not in changed_tasks:
            changed_tasks.append(current)
    info: dict[str, Any] = {"rc": res.rc, "ok": ok, "changed": changed, "failed": failed, "tasks": len(slow),
                            "slowest_tasks": slow[:15], "seconds_by_role": by_role, "changed_tasks": changed_tasks}
    if res.rc != 0:
        info["tail"] = (res.out + res.err)[-3000:]
    return res.seconds, res.rc, info


def converge(results: dict[str, Any], errors: list[str]) -> None:
    conv: dict[str, Any] = {"cold_s": None, "idempotent_s": None, "facts_only_s": None}
    results["converge"] = conv
    if os.environ.get("BENCH_SKIP_CONVERGE") == "1":
        conv["cold_note"] = "skipped (BENCH_SKIP_CONVERGE=1)"
        return
    lab_args = ["-i", str(INVENTORY), str(ROOT / "playbooks" / "lab.yml")]
    lab_present = all(container_running(c) for c in ("lab-redis", "lab-pg", "lab-app"))
    if os.environ.get("BENCH_COLD") == "1" and lab_present:
        log("destroying the lab for a cold converge (BENCH_COLD=1)")
        playbook(["-i", str(INVENTORY), str(ROOT / "playbooks" / "lab_destroy.yml")], 900)
        run(["rm", "-rf", str(ROOT / "lab")], 60)
        lab_present = False
    if not lab_present:
        log("cold converge of the lab (playbooks/lab.yml)")
        seconds, rc, info = playbook(lab_args, 3600, "converge-cold")
        conv.update(cold_s=round(seconds, 1), cold=info, cold_note="lab created from scratch in this run")
        if rc != 0:
            errors.append("cold converge of the lab failed")
        else:
            # lab.yml converged and verified: what `make lab` records after it.
            run([str(BIN / "python"), str(ROOT / "scripts" / "lab_state.py"), "record"], 120)
    else:
        conv["cold_note"] = ("not measured: the lab existed and is shared; BENCH_COLD=1 destroys and "
                             "re-creates it once")
    # `make lab` on the unchanged lab (what a user re-runs): with the record of a verified converge it
    # checks the fingerprint (scripts/lab_state.py) and runs the smoke check only.
    if not (ROOT / "lab" / ".state.json").exists():
        log("recording the lab state (full make lab once: converge + suite)")
        res = run(["make", "-C", str(ROOT), "lab", "FULL=1"], 3600)
        if res.rc != 0:
            errors.append("make lab FULL=1 failed")
    log("make lab on the unchanged lab")
    res = run(["make", "-C", str(ROOT), "lab"], 600)
    fast = "unchanged since" in res.out
    conv.update(idempotent_s=round(res.seconds, 1), idempotent_fast_path=fast,
                idempotent_note=("make lab: fingerprint unchanged -> smoke check, no converge" if fast
                                 else "make lab converged (the fast path did not apply)"))
    log(f"  {res.seconds:.1f}s, fast path: {fast}")
    if res.rc != 0:
        errors.append("make lab re-run failed")
    # The Ansible re-run itself (what FULL=1 runs, minus the suite): every task of site.yml on
    # converged hosts. A re-run that still changes things is no "unchanged" re-run: run again, at
    # most twice, and report the last one.
    earlier: list[dict[str, Any]] = []
    for attempt in range(3):
        log(f"Ansible re-run of the lab (playbooks/lab.yml --skip-tags verify), attempt {attempt + 1}")
        seconds, rc, info = playbook([*lab_args, "--skip-tags", "verify"], 1800, f"converge-rerun-{attempt + 1}")
        log(f"  {seconds:.1f}s, changed={info['changed']} {info['changed_tasks']}")
        if rc != 0:
            errors.append("re-run of the lab failed")
            break
        if info["changed"] == 0 or attempt == 2:
            break
        earlier.append({"seconds": round(seconds, 1), "changed": info["changed"],
                        "changed_tasks": info["changed_tasks"]})
    conv.update(ansible_rerun_s=round(seconds, 1), ansible_rerun_changed=info["changed"], ansible_rerun=info,
                earlier_reruns=earlier)
    log("gather-facts-only play (bench/facts.yml)")
    seconds, rc, info = playbook(["-i", str(INVENTORY), str(BENCH / "facts.yml")], 600, "converge-facts")
    conv.update(facts_only_s=round(seconds, 1), facts_only=info)
    if rc != 0:
        errors.append("facts-only play failed")
    log(f"  {seconds:.1f}s")


def pools(ep: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """FPM pool per PHP variant, and the variants that cannot run (with the reason)."""
    common = f"timeout={TIMEOUT_S}&read_timeout={TIMEOUT_S}"
    out: list[dict[str, Any]] = [{"name": "files", "store": "files", "save_handler": "files",
                                  "save_path": "/var/lib/php-bench/files"}]
    missing: dict[str, str] = {}
    plain = f"tcp://{PLAIN_REDIS}:6379?prefix=bench:sess:&{common}"
    out.append({"name": "redis_plain", "store": "redis", "save_handler": "redis", "save_path": f"{plain}&persistent=0"})
    out.append({"name": "redis_plain_persistent", "store": "redis", "save_handler": "redis",
                "save_path": f"{plain}&persistent=1"})
    redis = ep.get("redis")
    password = secret((redis or {}).get("app_password_file"))
    if redis and password:
        # As roles/php_session_app renders it (php_session_app_redis_save_path): TLS with full
        # verification, ACL user, the user's key prefix, locking on (the kit's default).
        base = (f"tls://{redis['container']}:6379?auth[user]={redis['app_user']}&auth[pass]={password}"
                f"&prefix={redis['key_prefix']}&{common}")
        tls = f"&stream[verify_peer]=1&stream[verify_peer_name]=1&stream[cafile]={CA_IN_APP}"
        for name, persistent, locking in REDIS_VARIANTS:
            out.append({"name": name, "store": "redis", "save_handler": "redis", "locking": locking,
                        "save_path": f"{base}&persistent={persistent}{tls}", "cafile": CA_IN_APP})
        proxy = redis.get("proxy")
        if proxy:
            # The lab's HA group through the kit's redis_session_proxy (HAProxy on 127.0.0.1 of
            # kit-bench-app, TLS passthrough): the app dials the group's service name, which the role
            # maps to 127.0.0.1 and every node's certificate names. The rest as its twin
            # redis_hardened_persistent (direct to the primary): persistent, locking on.
            ha_base = (f"tls://{proxy['service_name']}:{proxy['port']}?auth[user]={redis['app_user']}"
                       f"&auth[pass]={password}&prefix={redis['key_prefix']}&{common}")
            out.append({"name": REDIS_HA_VARIANT, "store": "redis", "save_handler": "redis", "locking": True,
                        "save_path": f"{ha_base}&persistent=1{tls}", "cafile": CA_IN_APP})
        else:
            missing[REDIS_HA_VARIANT] = "not available: the lab's Redis store is a single node (no redis.proxy)"
        out.append({"name": "phalcon_redis_persistent", "store": "redis", "save_handler": "files",
                    "save_path": "/nonexistent", "cafile": CA_IN_APP, "env": {
                        "BENCH_FRAMEWORK": "phalcon", "BENCH_REDIS_HOST": redis["container"],
                        "BENCH_REDIS_USER": redis["app_user"], "BENCH_REDIS_PASSWORD": password,
                        "BENCH_REDIS_PREFIX": redis["key_prefix"], "BENCH_REDIS_PERSISTENT": "1",
                        "BENCH_REDIS_LOCKING": "1", "BENCH_CA": CA_IN_APP}})
    else:
        for name in [v[0] for v in REDIS_VARIANTS] + [REDIS_HA_VARIANT, "phalcon_redis_persistent"]:
            missing[name] = "not available: no redis entry (or secret) in lab/endpoints.json"
    pg = ep.get("postgresql")
    pg_password = secret((pg or {}).get("app_password_file"))
    if pg and pg_password:
        dsn = (f"pgsql:host={pg['container']};port=5432;dbname={pg['database']};sslmode=verify-full;"
               f"sslrootcert={CA_IN_APP};connect_timeout=5;application_name=kit-bench")
        if pg.get("client_cert"):
            for name in [v[0] for v in PG_VARIANTS] + ["phalcon_postgresql"]:
                missing[name] = "not available: client certificates are not wired into the bench"
        else:
            for name, handler, pg_persistent in PG_VARIANTS:
                out.append({"name": name, "store": "pgsql", "save_handler": "files",
                            "save_path": "/nonexistent", "env": {
                                "BENCH_PG_DSN": dsn, "BENCH_PG_USER": pg["app_user"],
                                "BENCH_PG_PASSWORD": pg_password, "BENCH_PG_TABLE": pg["table"],
                                "BENCH_PG_PERSISTENT": pg_persistent, "BENCH_PG_HANDLER": handler}})
            out.append({"name": "phalcon_postgresql", "store": "pgsql", "save_handler": "files",
                        "save_path": "/nonexistent", "env": {
                            "BENCH_FRAMEWORK": "phalcon", "BENCH_PG_DSN": dsn, "BENCH_PG_USER": pg["app_user"],
                            "BENCH_PG_PASSWORD": pg_password, "BENCH_PG_TABLE": pg["table"],
                            "BENCH_PG_PERSISTENT": "1"}})
    else:
        for name in [v[0] for v in PG_VARIANTS] + ["phalcon_postgresql"]:
            missing[name] = "not available: no postgresql entry in lab/endpoints.json (BENCH_NO_PG_HOST=1)"
    pg_ha = ep.get("postgresql_ha")
    ha_password = secret((pg_ha or {}).get("app_password_file"))
    if pg_ha and ha_password and not pg_ha.get("client_cert"):
        nodes = list(pg_ha["nodes"])
        ha_dsn = (f"pgsql:host={','.join(str(n['container']) for n in nodes)};port={','.join('5432' for _ in nodes)};"
                  f"dbname={pg_ha['database']};sslmode=verify-full;sslrootcert={CA_IN_APP};connect_timeout=5;"
                  "target_session_attrs=read-write;application_name=kit-bench")
        ha_env = {"BENCH_PG_DSN": ha_dsn, "BENCH_PG_USER": pg_ha["app_user"], "BENCH_PG_PASSWORD": ha_password,
                  "BENCH_PG_TABLE": pg_ha["table"], "BENCH_PG_PERSISTENT": "1", "BENCH_PG_HANDLER": "kit"}
        out.append({"name": PG_HA_VARIANT, "store": "pgsql", "save_handler": "files", "save_path": "/nonexistent",
                    "env": ha_env})
        for name, level in PG_HA_SYNC_VARIANTS:
            out.append({"name": name, "store": "pgsql", "save_handler": "files", "save_path": "/nonexistent",
                        "env": {**ha_env, "BENCH_PG_SYNC": level}})
    else:
        for name in [PG_HA_VARIANT] + [v[0] for v in PG_HA_SYNC_VARIANTS]:
            missing[name] = ("not available: the lab's PostgreSQL is not an HA cluster (no postgresql.nodes), "
                             "has no secret, or wants client certificates")
    return out, missing


def bench_pg_endpoint() -> dict[str, Any]:
    """The kit's PostgreSQL role on kit-bench-pg (role defaults), while the lab has no PostgreSQL store.

    The app password is the lab's (lab/secrets/pg_app, made here as the lab's password lookup would).
    """
    secret_file = ROOT / "lab" / "secrets" / "pg_app"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        alphabet = string.ascii_letters + string.digits
        secret_file.write_text("".join(secrets.choice(alphabet) for _ in range(32)) + "\n")
        secret_file.chmod(0o600)
    return {"container": "kit-bench-pg", "database": "sessions", "table": "session_store.session_data",
            "app_user": "session_app", "app_password_file": str(secret_file), "client_cert": None}


def setup_bench_hosts(pool_list: list[dict[str, Any]], ca: str | None, bench_pg: bool) -> tuple[bool, dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        os.chmod(handle.name, 0o600)
        json.dump({"bench_pools": pool_list, "bench_ca_cert": ca or "", "bench_pg": bench_pg}, handle)
        vars_file = handle.name
    try:
        seconds, rc, info = playbook(["-i", str(INVENTORY), str(BENCH / "bench.yml"), "-e", f"@{vars_file}"], 1800,
                                     "bench-hosts")
    finally:
        os.unlink(vars_file)
    info["seconds"] = round(seconds, 1)
    return rc == 0, info


def curl_check(url: str) -> str | None:
    """Two requests on one session: None when the second one sees the first one's 2 KB."""
    with tempfile.TemporaryDirectory() as tmp:
        jar = str(Path(tmp) / "jar")
        first = run(["curl", "-sk", "-m", "10", "-c", jar, "-b", jar, url], 15)
        second = run(["curl", "-sk", "-m", "10", "-c", jar, "-b", jar, "-w", " %{http_code}", url], 15)
    if second.rc != 0 or not second.out.strip().endswith("200"):
        return f"not available: {url} answered {(first.out + second.out).strip()[:120]!r}"
    if not second.out.startswith("2000 2"):
        return f"not available: session not kept ({second.out.strip()[:80]!r})"
    return None


def wrk(url: str, cookie: str, duration: int) -> dict[str, Any] | None:
    res = run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "5s",
               "-s", str(BENCH / "files" / "session.lua"), url, "--", cookie], duration + 30)
    match = re.search(r"^BENCHJSON (.*)$", res.out, re.MULTILINE)
    if res.rc != 0 or not match:
        return None
    data: dict[str, Any] = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def php_bench(results: dict[str, Any], pool_list: list[dict[str, Any]], missing: dict[str, str],
              ep: dict[str, Any]) -> None:
    php: dict[str, Any] = {name: {"rps": None, "p50_ms": None, "p99_ms": None, "note": why}
                           for name, why in missing.items()}
    results["php_session"] = php
    only = {v for v in os.environ.get("BENCH_ONLY", "").split(",") if v}
    targets: dict[str, tuple[str, str]] = {}
    for pool in pool_list:
        if only and pool["name"] not in only:
            continue
        url = f"{APP_URL}/{pool['name']}"
        problem = curl_check(url)
        if problem:
            php[pool["name"]] = {"rps": None, "p50_ms": None, "p99_ms": None, "note": problem}
            continue
        targets[pool["name"]] = (url, "KITBENCH")
    # The kit's own app probe, once roles/php_session_app serves it in the lab (small session, HTTPS).
    for store, app in (ep.get("apps") or {}).items():
        url = str(app.get("url", "")).rstrip("/") + "/probe/session"
        name = f"kit_probe_{store}"
        if only and name not in only:
            continue
        if url.startswith(("https://127.0.0.1:", "https://localhost:")) and curl_check_probe(url):
            targets[name] = (url, str(app.get("cookie_name", "")))
        else:
            php[name] = {"rps": None, "p50_ms": None, "p99_ms": None, "note": f"not available: {url}"}
    # The primary lab/endpoints.json names (an HA lab's first node may be a replica).
    redis_primary = str((ep.get("redis") or {}).get("container") or "lab-redis")
    sampler_targets = {f"redis-server ({redis_primary}, hardened)": (redis_primary, "redis-server"),
                       "redis-server (kit-bench-redis, stock)": (PLAIN_REDIS, "redis-server")}
    if ep.get("postgresql"):
        pg_container = ep["postgresql"]["container"]
        sampler_targets[f"postgres ({pg_container}, all processes)"] = (pg_container, "postgres")
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    load_during: list[float] = []
    memory: dict[str, dict[str, Any]] = {}
    for label, (container, proc) in sampler_targets.items():
        from kitbench_tools import process_memory

        idle = process_memory(container, proc)
        if idle:
            memory[label] = {"idle_rss_mib": round(idle[0] / 2**20, 1), "idle_pss_mib": round(idle[1] / 2**20, 1)}
    names = list(targets)
    for name in names:  # warm-up: pools spawned, connections made, caches filled
        wrk(targets[name][0], targets[name][1], 2)
    with Sampler(targets=sampler_targets) as sampler:
        for index in range(ROUNDS):
            order = names if index % 2 == 0 else list(reversed(names))
            for name in order:
                log(f"wrk round {index + 1}/{ROUNDS} {name}")
                data = wrk(targets[name][0], targets[name][1], DURATION)
                if data:
                    rounds[name].append(data)
        load_during = sampler.load
        for label, samples in sampler.mem.items():
            entry = memory.setdefault(label, {})
            entry.update(peak_rss_mib=round(max(s[0] for s in samples) / 2**20, 1),
                         peak_pss_mib=round(max(s[1] for s in samples) / 2**20, 1),
                         peak_procs=max(s[2] for s in samples))
    for name, runs in rounds.items():
        if not runs:
            php[name] = {"rps": None, "p50_ms": None, "p99_ms": None, "note": "wrk failed"}
            continue
        rps = [r["rps"] for r in runs]
        # Median round by req/s: its latencies belong to the same run.
        mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        errors = sum(r["status_errors"] + r["timeouts"] + r["connect_errors"] + r["read_errors"] for r in runs)
        php[name] = {"rps": round(statistics.median(rps), 1), "p50_ms": round(mid["p50_us"] / 1000, 2),
                     "p99_ms": round(mid["p99_us"] / 1000, 2), "errors": errors,
                     "rounds_rps": [round(x, 1) for x in rps], "requests": sum(r["requests"] for r in runs)}
        if errors:
            php[name]["note"] = f"{errors} non-2xx/socket errors"
    results["memory"] = memory
    results["machine"]["loadavg_during_mean"] = round(statistics.mean(load_during), 2) if load_during else None
    results["machine"]["loadavg_during_max"] = round(max(load_during), 2) if load_during else None
    results["php_settings"] = {"duration_s": DURATION, "rounds": ROUNDS, "connections": CONNECTIONS, "threads": 2,
                               "new_session_share": 0.2, "sessions_per_thread_max": 2000, "payload_bytes": 2000,
                               "pm": "ondemand", "pm_max_children": 5, "transport": "plain HTTP to nginx"}


def curl_check_probe(url: str) -> bool:
    res = run(["curl", "-sk", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", url], 15)
    return res.out.strip() == "200"


def redis_benchmark(ep: dict[str, Any], store: dict[str, Any]) -> None:
    """redis-benchmark from kit-bench-app: session-shaped SETEX/GET of 2 KB, TLS+ACL vs plaintext."""
    redis = ep.get("redis")
    password = secret((redis or {}).get("app_password_file"))
    prefix = (redis or {}).get("key_prefix", "bench:sess:")
    setex = ["SETEX", f"{prefix}rb:__rand_int__", "1800", VALUE_2K]
    get = ["GET", f"{prefix}rb:__rand_int__"]
    cases: list[tuple[str, list[str], int, str]] = []
    for label, keep, count in (("", "1", 20000), (" reconnect/request", "0", 2000)):
        cases.append((f"redis plaintext SETEX 2KB{label}", ["-h", PLAIN_REDIS, "-k", keep], count, "setex"))
        cases.append((f"redis plaintext GET 2KB{label}", ["-h", PLAIN_REDIS, "-k", keep], count, "get"))
        if redis and password:
            tls = ["-h", redis["container"], "--tls", "--cacert", CA_IN_APP, "--user", redis["app_user"],
                   "-a", password, "-k", keep]
            cases.append((f"redis TLS+ACL SETEX 2KB{label}", tls, count, "setex"))
            cases.append((f"redis TLS+ACL GET 2KB{label}", tls, count, "get"))
    for name, args, count, op in cases:
        log(f"redis-benchmark {name}")
        cmd = ["redis-benchmark", "-p", "6379", "-c", "10", "-n", str(count), "-r", "10000", "--csv", "--precision",
               "3", *args, *(setex if op == "setex" else get)]
        res = docker_exec(APP, cmd, 120)
        row = [line for line in res.out.splitlines() if line.startswith('"') and not line.startswith('"test"')]
        if res.rc != 0 or not row:
            store[name] = {"ops": None, "note": f"failed: {(res.err or res.out).strip()[-160:]}"}
            continue
        cells = [c.strip('"') for c in row[-1].split('","')]
        # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max"
        store[name] = {"ops": float(cells[1]), "avg_ms": float(cells[2]), "p50_ms": float(cells[4]),
                       "p99_ms": float(cells[6]), "requests": count, "clients": 10}


PGBENCH_SCRIPT = """\\set id random(1, 20000)
SELECT data FROM {table} WHERE session_id = 'pgbench-' || :id
  AND COALESCE(modified_at, created_at) + 1800 >= extract(epoch FROM now())::bigint;
INSERT INTO {table} (session_id, data, created_at, modified_at)
  VALUES ('pgbench-' || :id, convert_to(repeat(md5(random()::text), 64), 'UTF8'),
          extract(epoch FROM now())::bigint, NULL)
  ON CONFLICT (session_id) DO UPDATE SET data = EXCLUDED.data, modified_at = extract(epoch FROM now())::bigint;
"""


def pgbench(ep: dict[str, Any], store: dict[str, Any]) -> None:
    """pgbench session upsert+read (2 KB): TLS from kit-bench-app vs the local socket inside lab-pg."""
    pg = ep.get("postgresql")
    password = secret((pg or {}).get("app_password_file"))
    names = ["pgbench TLS upsert+read", "pgbench socket upsert+read", "pgbench TLS connect/transaction",
             "pgbench socket connect/transaction"]
    if not pg or not password:
        for name in names:
            store[name] = {"ops": None, "note": "not available: no postgresql entry in lab/endpoints.json"}
        return
    container = pg["container"]
    script = PGBENCH_SCRIPT.format(table=pg["table"])
    # Both cases run inside the store's container (Debian ships pgbench with the server package):
    # the same client, once over the local socket, once over TCP + TLS to the server's own address.
    ca = (ep.get("redis") or {}).get("ca_cert") or str(ROOT / "lab" / "pki" / "ca.crt")
    run(["docker", "exec", "-i", container, "sh", "-c", "cat > /tmp/kit-bench-session.sql && chmod 644 "
         "/tmp/kit-bench-session.sql"], 20, stdin=script)
    run(["docker", "exec", "-i", container, "sh", "-c", "cat > /tmp/kit-bench-ca.crt && chmod 644 "
         "/tmp/kit-bench-ca.crt"], 20, stdin=Path(ca).read_text())
    tls_env = {"PGPASSWORD": password, "PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/tmp/kit-bench-ca.crt"}
    tls = ["pgbench", "-n", "-h", container, "-p", "5432", "-U", pg["app_user"], "-d", pg["database"]]
    sock = ["pgbench", "-n", "-h", "/var/run/postgresql", "-d", pg["database"]]
    cases = [(names[0], container, tls, tls_env, None, ["-c", "4", "-j", "2", "-t", "2000"]),
             (names[1], container, sock, {}, "postgres", ["-c", "4", "-j", "2", "-t", "2000"]),
             (names[2], container, tls, tls_env, None, ["-C", "-c", "4", "-j", "2", "-t", "250"]),
             (names[3], container, sock, {}, "postgres", ["-C", "-c", "4", "-j", "2", "-t", "250"])]
    for name, where, base, env, user, extra in cases:
        log(name)
        cmd = [*base, *extra, "-r", "-f", "/tmp/kit-bench-session.sql"]
        res = docker_exec(where, cmd, 180, env=env, user=user)
        tps = re.search(r"tps = ([\d.]+) \((?:without initial connection|including reconnection)", res.out)
        lat = re.search(r"latency average = ([\d.]+) ms", res.out)
        if res.rc != 0 or not tps:
            store[name] = {"ops": None, "note": f"failed: {(res.err or res.out).strip()[-200:]}"}
            continue
        conn = re.search(r"average connection time = ([\d.]+) ms", res.out)
        store[name] = {"ops": float(tps.group(1)), "p50_ms": None, "p99_ms": None,
                       "avg_ms": float(lat.group(1)) if lat else None, "clients": 4,
                       "connect_ms": float(conn.group(1)) if conn else None,
                       "note": ("tps incl. a new connection per transaction" if "-C" in extra else "tps")
                       + (f", avg latency {lat.group(1)} ms" if lat else "")}
    docker_exec(container, ["psql", "-q", "-d", pg["database"], "-c",
                            f"DELETE FROM {pg['table']} WHERE session_id LIKE 'pgbench-%'"], 60, user="postgres")


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    results: dict[str, Any] = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}
    log(f"machine: {results['machine']['nproc']} CPUs, {results['machine']['cpu_model']}, "
        f"other containers: {len(results['machine']['other_containers'])}")
    converge(results, errors)
    ep: dict[str, Any] = json.loads(ENDPOINTS.read_text()) if ENDPOINTS.exists() else {}
    if len((ep.get("postgresql") or {}).get("nodes") or []) > 1 and os.environ.get("BENCH_NO_PG_HOST") != "1":
        # HA lab: postgresql_ha runs on the cluster; the single-node variants on kit-bench-pg (the twin).
        ep["postgresql_ha"] = ep.pop("postgresql")
    bench_pg = not ep.get("postgresql") and os.environ.get("BENCH_NO_PG_HOST") != "1"
    if bench_pg:
        ep["postgresql"] = bench_pg_endpoint()
    results["postgresql_source"] = ep["postgresql"]["container"] if ep.get("postgresql") else None
    results["postgresql_ha_source"] = [n["container"] for n in (ep.get("postgresql_ha") or {}).get("nodes") or []]
    pool_list, missing = pools(ep)
    log(f"bench hosts ({len(pool_list)} pools; unavailable: {', '.join(missing) or 'none'}; "
        f"PostgreSQL: {results['postgresql_source']})")
    ok, info = setup_bench_hosts(pool_list, (ep.get("redis") or {}).get("ca_cert"), bench_pg)
    results["bench_hosts"] = {"seconds": info["seconds"], "rc": info["rc"]}
    if not ok:
        errors.append("bench hosts could not be set up (bench/bench.yml)")
        print(info.get("tail", ""), file=sys.stderr)
    else:
        php_bench(results, pool_list, missing, ep)
        store: dict[str, Any] = {}
        results["store"] = store
        redis_benchmark(ep, store)
        pgbench(ep, store)
    results["machine"]["loadavg_end"] = loadavg()
    results["errors"] = errors
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if chart(results, RESULTS / "latest.png"):
        log(f"chart: {RESULTS / 'latest.png'}")
    print(table(results))
    if os.environ.get("BENCH_KEEP") != "1":
        log("removing the bench containers")
        playbook(["-i", str(INVENTORY), str(BENCH / "bench.yml"), "-e", "bench_state=absent"], 600)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
