"""PostgreSQL HA session stores (Patroni + etcd), proven from a client's side.

test_postgresql.py already runs every single-node hardening test on every
member. This module adds what only a cluster has: one primary with
synchronous TLS + SCRAM streaming standbys, a replication role that can do
nothing else, identical configuration on every member, etcd and the Patroni
REST API closed to anonymous and plaintext clients, the GC doing nothing on
a standby, and (side_effect, KIT_PG_FAILOVER=1) the failover under load: no
acknowledged session lost.

Refusals that depend on the client's address (replication, etcd, REST API)
are tried from another member, an address the cluster does admit: the only
thing missing is then the password, the TLS or the certificate.
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
from conftest import CONTEXT, host_for
from test_postgresql import in_recovery, is_ha, members_of, primary_of, psql

Store = dict[str, Any]

HA_STORES = [s for s in CONTEXT.get("postgresql", []) if s.get("ha")]
pytestmark = pytest.mark.skipif(not HA_STORES, reason="no PostgreSQL HA cluster in the inventory")


@pytest.fixture(scope="module", params=HA_STORES[:1] or [None], ids=lambda s: str(s["ha_scope"]) if s else "none")
def cluster(request: pytest.FixtureRequest) -> list[Store]:
    """The members of the (first) HA cluster."""
    return members_of(request.param)


def standby_of(members: list[Store]) -> Store:
    primary = primary_of(members[0])
    return next(m for m in members if m["name"] != primary["name"])


def run_with_secret(host: Any, script: str, secret: str) -> dict[str, Any]:
    """Run a bash script on `host` that reads `secret` from stdin (never on a command line)."""
    os.environ["KIT_SUITE_SECRET"] = secret
    try:
        args = {"argv": ["bash", "-c", script],
                "stdin": "{{ lookup('ansible.builtin.env', 'KIT_SUITE_SECRET') }}"}
        return dict(host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True))
    finally:
        del os.environ["KIT_SUITE_SECRET"]


# --- topology and synchronous replication -------------------------------------------------

def test_one_primary_and_streaming_synchronous_standbys(cluster: list[Store]) -> None:
    assert len(cluster) >= 3
    roles = {m["name"]: in_recovery(m) for m in cluster}
    assert sorted(roles.values()) == [False] + [True] * (len(cluster) - 1), roles
    primary = primary_of(cluster[0])
    rows = psql(primary, "SELECT r.application_name || ' ' || r.state || ' ' || r.sync_state || ' ' || "
                         "r.usename || ' ' || s.ssl || ' ' || s.version FROM pg_stat_replication r "
                         "JOIN pg_stat_ssl s USING (pid) ORDER BY 1")
    lines = [line.split(" ") for line in rows.splitlines()]
    assert sorted(line[0] for line in lines) == sorted(m["name"] for m in cluster if m["name"] != primary["name"])
    for _name, state, _sync, user, ssl, version in lines:
        assert state == "streaming", rows
        assert user == primary["replication_role"], rows
        assert ssl in ("t", "true") and version in ("TLSv1.2", "TLSv1.3"), rows
    # Patroni 4 (Debian 13): quorum (ANY 1); Patroni 3.0 (Debian 12): one named sync standby.
    assert any(line[2] in ("sync", "quorum") for line in lines), rows
    assert psql(primary, "SHOW synchronous_commit") == "on"
    names = psql(primary, "SHOW synchronous_standby_names")
    assert names, "no synchronous standby: a commit would be acknowledged by the primary alone"
    slots = psql(primary, "SELECT slot_type || ' ' || active FROM pg_replication_slots")
    assert slots.split("\n") == ["physical true"] * (len(cluster) - 1), slots


def test_every_member_runs_the_same_configuration(cluster: list[Store]) -> None:
    """No drift by construction: the same settings and pg_hba rules on every member."""
    # A member's own address, and what Patroni sets by role: the primary names its synchronous
    # standbys, a standby its upstream (primary_conninfo, primary_slot_name, recovery_*).
    per_node = ("listen_addresses", "synchronous_standby_names")
    query = ("SELECT name || '=' || setting FROM pg_settings WHERE source = 'configuration file' "
             "AND name NOT IN (" + ", ".join(f"'{n}'" for n in per_node) + ") "
             "AND name NOT LIKE 'primary\\_%' AND name NOT LIKE 'recovery\\_%' ORDER BY 1")
    settings = {m["name"]: psql(m, query) for m in cluster}
    assert len(set(settings.values())) == 1, settings
    assert "password_encryption=scram-sha-256" in next(iter(settings.values()))
    hba = {m["name"]: psql(m, "SELECT type || ' ' || array_to_string(database, ',') || ' ' || "
                              "array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || auth_method "
                              "FROM pg_hba_file_rules ORDER BY line_number") for m in cluster}
    assert len(set(hba.values())) == 1, hba


def test_replication_role_can_do_nothing_else(cluster: list[Store]) -> None:
    primary = primary_of(cluster[0])
    role = primary["replication_role"]
    attrs = psql(primary, "SELECT concat(rolsuper::int, rolcreaterole::int, rolcreatedb::int, rolreplication::int, "
                          f"rolbypassrls::int, rolcanlogin::int) FROM pg_roles WHERE rolname = '{role}'")
    assert attrs == "000101"
    assert psql(primary, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                         f"WHERE r.rolname = '{role}'") == "0"
    assert psql(primary, f"SELECT has_database_privilege('{role}', '{primary['database']}', 'CONNECT')") == "f"
    verifier = psql(primary, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert verifier.startswith("SCRAM-SHA-256$"), "replication password is not a SCRAM verifier"


REPLICATION_SCRIPT = (
    "read -r PGPASSWORD; export PGPASSWORD; "
    "exec psql -XAtq 'host={host} port={port} user={user} dbname=replication replication=true "
    "sslmode={sslmode} sslrootcert={ca} connect_timeout=5' -c IDENTIFY_SYSTEM"
)


def _replicate(standby: Store, primary: Store, password: str, sslmode: str) -> dict[str, Any]:
    script = REPLICATION_SCRIPT.format(host=primary["ha_address"], port=primary["server_port"],
                                       user=primary["replication_role"], sslmode=sslmode,
                                       ca=primary["ca_cert"])
    return run_with_secret(host_for(standby["name"]), script, password)


def test_replication_needs_tls_and_the_password(cluster: list[Store]) -> None:
    primary = primary_of(cluster[0])
    standby = standby_of(cluster)
    good = _replicate(standby, primary, primary["replication_password"], "verify-full")
    assert good.get("rc") == 0, good.get("stderr")
    wrong = _replicate(standby, primary, primary["replication_password"] + "x", "verify-full")
    assert wrong.get("rc") != 0 and "password authentication failed" in wrong.get("stderr", ""), wrong.get("stderr")
    plain = _replicate(standby, primary, primary["replication_password"], "disable")
    assert plain.get("rc") != 0 and "no encryption" in plain.get("stderr", ""), plain.get("stderr")


# --- etcd and the Patroni REST API -------------------------------------------------------

# The members have no curl: a small Python client runs on the member itself
# (argv: url method cafile certfile keyfile data user; the password, if any,
# on stdin). Prints the HTTP status (0: no HTTP answer) and the body.
HTTP_PY = r"""
import base64, ssl, sys, urllib.error, urllib.request
url, method, ca, cert, key, data, user = sys.argv[1:8]
headers = {"Content-Type": "application/json"}
if user:
    secret = sys.stdin.readline().rstrip("\n")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
ctx = None
if url.startswith("https:"):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
request = urllib.request.Request(url, data=data.encode() if data else None, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, context=ctx, timeout=5) as response:
        print(response.status)
        print(response.read().decode(errors="replace"))
except urllib.error.HTTPError as exc:
    print(exc.code)
    print(exc.read().decode(errors="replace"))
except Exception as exc:
    print(0)
    print(type(exc).__name__, exc)
"""


def http_from(host: Any, url: str, method: str = "GET", *, ca: str = "", cert: str = "", key: str = "",
              data: str = "", user: str = "", password: str = "") -> tuple[int, str]:
    """An HTTP(S) request made on `host` (status 0: no HTTP answer, e.g. a refused handshake)."""
    os.environ["KIT_SUITE_SECRET"] = password
    try:
        args = {"argv": ["python3", "-c", HTTP_PY, url, method, ca, cert, key, data, user],
                "stdin": "{{ lookup('ansible.builtin.env', 'KIT_SUITE_SECRET') }}"}
        result = host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True)
    finally:
        del os.environ["KIT_SUITE_SECRET"]
    status, _, body = str(result.get("stdout", "")).partition("\n")
    assert status.strip().isdigit(), result
    return int(status), body


def _certs(store: Store) -> dict[str, str]:
    return {"ca": store["ca_cert"], "cert": store["patroni_cert"], "key": store["patroni_key"]}


def test_etcd_refuses_anonymous_and_plaintext_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['etcd_port']}"
    code, body = http_from(host, f"https://{base}/health", **_certs(client))
    assert code == 200 and '"health":"true"' in body.replace(" ", ""), body
    code, body = http_from(host, f"https://{base}/health", ca=client["ca_cert"])
    assert code == 0, f"etcd answered a client without a certificate: {code} {body}"
    code, body = http_from(host, f"http://{base}/health")
    assert code != 200 and '"health"' not in body, f"etcd answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{base}/v3/kv/range", "POST", ca=client["ca_cert"],
                           data='{"key":"AA==","range_end":"AA=="}')
    assert code == 0, f"etcd served keys to an anonymous client: {code} {body}"
    # The peer port: TLS with a peer certificate only.
    peer = f"{target['ha_address']}:2380"
    code, body = http_from(host, f"http://{peer}/members")
    assert code != 200 and "peerURLs" not in body, f"etcd's peer port answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{peer}/members", ca=client["ca_cert"])
    assert code == 0, f"etcd's peer port answered a client without a certificate: {code} {body}"


def test_patroni_api_refuses_anonymous_plaintext_and_passwordless_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['patroni_api_port']}"
    code, body = http_from(host, f"https://{base}/patroni", **_certs(client))
    assert code in (200, 503) and '"state"' in body, body
    code, body = http_from(host, f"https://{base}/patroni", ca=client["ca_cert"])
    assert code == 0, f"the REST API answered a client without a certificate: {code} {body}"
    code, body = http_from(host, f"http://{base}/patroni")
    assert code != 200 and '"state"' not in body, f"the REST API answered plaintext HTTP: {body}"
    # Unsafe methods need the password too (a harmless PATCH: the ttl it already has).
    code, body = http_from(host, f"https://{base}/config", **_certs(client))
    assert code == 200, body
    same = json.dumps({"ttl": json.loads(body)["ttl"]})
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, **_certs(client))
    assert code == 401, f"PATCH /config without the password: {code} {body}"
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, user=target["patroni_api_user"],
                           password=target["patroni_api_password"] + "x", **_certs(client))
    assert code == 401, f"PATCH /config with a wrong password: {code} {body}"
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, user=target["patroni_api_user"],
                           password=target["patroni_api_password"], **_certs(client))
    assert code == 200, f"PATCH /config with the password: {code} {body}"


# --- the GC on a standby ------------------------------------------------------------------

def test_gc_on_a_standby_deletes_nothing_and_succeeds(cluster: list[Store]) -> None:
    standby = standby_of(cluster)
    host = host_for(standby["name"])
    since = host.check_output("date -u '+%Y-%m-%d %H:%M:%S'")
    unit = f"{standby['gc_unit']}.service"
    host.check_output("systemctl start %s", unit)
    assert host.run("systemctl show -p Result --value %s", unit).stdout.strip() == "success"
    journal = host.check_output("journalctl -q -o cat --since %s -u %s", since, unit)
    assert "standby (in recovery): nothing to delete" in journal, journal
    assert "deleted" not in journal, journal


# --- failover under load (side_effect: KIT_PG_FAILOVER=1) --------------------------------------

def _ha_app() -> dict[str, Any]:
    apps = [a for a in CONTEXT.get("apps", []) if a.get("store") == "postgresql"]
    assert apps, "no PostgreSQL app in the inventory: the failover test writes through an app"
    return dict(apps[0])


def _commit(app: dict[str, Any]) -> str | None:
    """POST /probe/commit: a new session written to the store before the reply. Its id, or None on failure."""
    from test_app import request  # the suite's HTTPS helper (server name, CA)
    try:
        response = request(app, "POST", "/probe/commit", status=None)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    return str(response.json()["id"])


@pytest.mark.skipif(os.environ.get("KIT_PG_FAILOVER") != "1", reason="runs from the scenario's side_effect "
                    "(KIT_PG_FAILOVER=1): it kills the primary")
def test_failover_under_load_loses_no_acknowledged_session(cluster: list[Store]) -> None:
    app = _ha_app()
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
    present = set(psql(new, f"SELECT session_id FROM {table} WHERE session_id IN ("
                            + ",".join(f"'{i}'" for i in ids) + ")", new["database"]).split())
    missing = [i for i in ids if i not in present]
    # The old primary comes back as a standby of the new one.
    subprocess.run(["docker", "start", old["name"]], check=True, capture_output=True, timeout=60)
    started = time.monotonic()
    rejoined = None
    while time.monotonic() - started < 180:
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
    assert rejoined is not None, f"{old['name']} did not rejoin as a standby: {report}"
    if is_ha(old):
        still = set(psql(old, f"SELECT session_id FROM {table} WHERE session_id IN ("
                              + ",".join(f"'{i}'" for i in ids) + ")", old["database"]).split())
        assert still >= set(ids) or not ids, "the rejoined standby lacks acknowledged sessions"


# --- the PDO handler reconnects once -------------------------------------------------------------

# argv: config file. The handler (from the rendered config: multi-host DSN)
# writes a session; a second connection of the same role terminates the
# handler's backend; the next write must succeed over a new connection
# (reconnects == 1). Then a handler whose reconnect hands back a connection
# that is killed as well must give up after that one retry (an exception,
# reconnects == 1), not loop.
RECONNECT_PHP = r"""
[, $configFile] = $argv;
$config = require $configFile;
require_once $config['handler']['file'];
$db = $config['db'];
$db['persistent'] = false;
$db['application_name'] = 'kit-reconnect-victim';
$killerDb = $db;
$killerDb['application_name'] = 'kit-reconnect-killer';
$killer = \SessionKit\PdoSessionHandler::connect($killerDb);
$kill = static function () use ($killer): int {
    return (int) $killer->query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        . "WHERE usename = current_user AND application_name = 'kit-reconnect-victim'")->fetchColumn();
};
$table = $config['options']['table'];
$handler = new \SessionKit\PdoSessionHandler(\SessionKit\PdoSessionHandler::connect($db), $table,
    (int) $config['idleTimeout'], (int) $config['absoluteTimeout'],
    static fn (): PDO => \SessionKit\PdoSessionHandler::connect($db));
$id = 'kit-reconnect-' . bin2hex(random_bytes(8));
$result = ['first' => $handler->write($id, 'a|i:1;'), 'killed' => $kill()];
usleep(200000);
$result['second'] = $handler->write($id, 'a|i:2;');
$result['reconnects'] = $handler->reconnects;
$result['read'] = $handler->read($id);
$handler->destroy($id);
$doomed = new \SessionKit\PdoSessionHandler(\SessionKit\PdoSessionHandler::connect($db), $table,
    (int) $config['idleTimeout'], (int) $config['absoluteTimeout'],
    static function () use ($db, $kill): PDO {
        $pdo = \SessionKit\PdoSessionHandler::connect($db);
        $kill();
        usleep(200000);
        return $pdo;
    });
$doomed->write($id . 'x', 'b|i:1;');
$kill();
usleep(200000);
try {
    $doomed->write($id . 'x', 'b|i:2;');
    $result['gave_up'] = false;
} catch (\PDOException $e) {
    $result['gave_up'] = \SessionKit\PdoSessionHandler::isConnectionLoss($e);
}
$result['doomed_reconnects'] = $doomed->reconnects;
echo json_encode($result), "\n";
"""


def test_pdo_handler_reconnects_once_after_a_lost_connection() -> None:
    app = _ha_app()
    host = host_for(app["name"])
    result = host.run("runuser -u %s -- php -r %s %s", app["user"], RECONNECT_PHP, app["config_file"])
    assert result.rc == 0, result.stderr[-2000:]
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["first"] is True and body["killed"] == 1, body
    assert body["second"] is True and body["reconnects"] == 1, body
    assert body["read"] == "a|i:2;", body
    assert body["gave_up"] is True and body["doomed_reconnects"] == 1, body
