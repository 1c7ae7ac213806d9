"""PHP sessions through the kit's PostgreSQL handler, round-tripped on a real app host.

As the app's pool user, the PHP CLI loads the app's rendered session config
and SessionKit\\PdoSessionHandler, writes a session, and a fresh PHP process
(a new request) reads it back by id: objects with private and protected
properties (serialize() writes NUL bytes for them), a binary string with
every byte value, and 1 MB of data must survive. The text column and
emulated prepares of earlier releases cut the data at the first NUL byte and
PHP destroyed the session ("Failed to decode session object").
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import psycopg
import pytest
from app_client import named_store
from conftest import CONTEXT, host_for
from pg_client import primary_of
from psycopg import sql

App = dict[str, Any]

# argv: config file, mode, session id, seed. Modes: write (a new session with
# the data), read (start the given id), regen (start it, then
# session_regenerate_id(true)).
PHP = r"""
final class User {
    public function __construct(private int $id = 0, protected string $role = '', public array $tags = []) {}
    public function id(): int { return $this->id; }
    public function role(): string { return $this->role; }
}
[, $configFile, $mode, $sid, $seed] = $argv;
$config = require $configFile;
require_once $config['handler']['file'];
session_set_save_handler(\SessionKit\PdoSessionHandler::fromConfig($config), true);
ini_set('session.use_cookies', '0');
ob_start();
if ($mode !== 'write') {
    session_id($sid);
}
if (!session_start()) {
    fwrite(STDERR, "session_start failed\n");
    exit(2);
}
if ($mode === 'regen') {
    session_regenerate_id(true);
}
$every = '';
for ($i = 0; $i < 256; $i++) {
    $every .= chr($i);
}
$big = '';
for ($i = 0; strlen($big) < 1048576; $i++) {
    $big .= hash('sha256', $seed . $i, true);
}
if ($mode === 'write') {
    $_SESSION['user'] = new User(7, "admin\0root", ['a' => "\0"]);
    $_SESSION['bytes'] = str_repeat($every, 4);
    $_SESSION['big'] = $big;
    $_SESSION['text'] = "Zoë \u{1F600}";
}
$user = $_SESSION['user'] ?? null;
$result = [
    'id' => session_id(),
    'keys' => array_keys($_SESSION),
    'user' => $user instanceof User ? [$user->id(), bin2hex($user->role()), bin2hex($user->tags['a'])] : null,
    'bytes' => isset($_SESSION['bytes']) && $_SESSION['bytes'] === str_repeat($every, 4),
    'big' => isset($_SESSION['big']) && $_SESSION['big'] === $big,
    'big_length' => strlen($_SESSION['big'] ?? ''),
    'text' => $_SESSION['text'] ?? null,
];
session_write_close();
ob_end_clean();
echo json_encode($result), "\n";
"""


def pg_apps() -> list[App]:
    return [a for a in CONTEXT.get("apps", []) if a["store"] == "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg_app" in metafunc.fixturenames:
        entries = pg_apps()
        if entries:
            metafunc.parametrize("pg_app", entries, ids=[f"{e['name']}:{e['app']}" for e in entries], scope="module")
        else:
            metafunc.parametrize("pg_app", [pytest.param(None, marks=pytest.mark.skip(reason="no PostgreSQL apps"))])


def store_app(app: App) -> dict[str, Any]:
    """The store's entry (role, password, table) this app uses: its store_user, or the store's only app."""
    entries = named_store(app).get("apps") or []
    if app["store_user"]:
        # "app": the app's name; "name": the login role it uses now (rotation).
        return dict(next(e for e in entries if e.get("app", e["name"]) == app["store_user"]))
    assert len(entries) == 1, entries
    return dict(entries[0])


def php(app: App, mode: str, sid: str, seed: str) -> dict[str, Any]:
    """Run the round-trip script as the app's pool user (a fresh PHP process: a new request)."""
    host = host_for(app["name"])
    result = host.run("runuser -u %s -- php -r %s %s %s %s %s", app["user"], PHP, app["config_file"], mode, sid, seed)
    assert result.rc == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-2000:]
    return dict(json.loads(lines[-1]))


def test_objects_binary_and_large_data_survive_a_round_trip(pg_app: App) -> None:
    seed = secrets.token_hex(8)
    written = php(pg_app, "write", "new", seed)
    assert written["user"] == [7, b"admin\0root".hex(), "00"] and written["bytes"] and written["big"], written
    sid = written["id"]
    try:
        read = php(pg_app, "read", sid, seed)
        assert read["id"] == sid, "the stored session was not adopted (strict mode found no live row)"
        assert read["user"] == [7, b"admin\0root".hex(), "00"], read
        assert read["bytes"] is True, read
        assert read["big"] is True and read["big_length"] == 1048576, read
        assert read["text"] == "Zo\u00eb \U0001F600", read
        assert sorted(read["keys"]) == ["big", "bytes", "text", "user"], read
    finally:
        _delete(pg_app, sid)


def test_stored_row_is_bytea_in_the_apps_own_table(pg_app: App) -> None:
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    store, entry = named_store(pg_app), store_app(pg_app)
    try:
        with _connect(store, entry) as conn:
            row = conn.execute(sql.SQL("SELECT data, pg_typeof(data)::text FROM {}.{} WHERE session_id = %s")
                               .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])),
                               (sid,)).fetchone()
        assert row is not None and row[1] == "bytea"
        assert b'User":3:{s:8:"\x00User\x00id";i:7;' in bytes(row[0]), bytes(row[0])[:200]
    finally:
        _delete(pg_app, sid)


# argv: config file. The app's own DSN (the rendered config, as the handler
# builds it) and then each member it names alone: once as it comes (the
# certificate must verify for the name dialled) and once with
# target_session_attrs=read-write (only the primary may take it).
DSN_PHP = r"""
[, $configFile] = $argv;
$config = require $configFile;
require_once $config['handler']['file'];
$db = $config['db'];
$db['persistent'] = false;
$ask = static function (array $db): array {
    try {
        return \SessionKit\PdoSessionHandler::connect($db)->query(
            "SELECT pg_catalog.pg_is_in_recovery()::text AS standby, coalesce(host(inet_server_addr()), '') AS addr"
        )->fetch(PDO::FETCH_ASSOC);
    } catch (\PDOException $e) {
        return ['error' => $e->getMessage()];
    }
};
$keys = ['host', 'port', 'target_session_attrs', 'sslmode', 'connect_timeout', 'tcp_user_timeout'];
$out = ['db' => array_intersect_key($db, array_flip($keys)), 'app' => $ask($db), 'members' => []];
$ports = explode(',', (string) $db['port']);
foreach (explode(',', (string) $db['host']) as $i => $member) {
    $one = $db;
    $one['host'] = $member;
    $one['port'] = $ports[$i] ?? $ports[0];
    unset($one['target_session_attrs']);
    $any = $ask($one);
    $one['target_session_attrs'] = 'read-write';
    $out['members'][] = ['host' => $member, 'any' => $any, 'rw' => $ask($one)];
}
echo json_encode($out), "\n";
"""


def test_app_dsn_reaches_the_primary_through_every_member(pg_app: App) -> None:
    """The app's DSN, run on the app host: one node as today; HA: every member (each certificate verified
    for the name dialled), target_session_attrs=read-write, and the connection lands on the primary of now
    (after the scenario's failover, not the first member), while a standby alone refuses read-write."""
    host = host_for(pg_app["name"])
    result = host.run("runuser -u %s -- php -r %s %s", pg_app["user"], DSN_PHP, pg_app["config_file"])
    assert result.rc == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    db, store = out["db"], named_store(pg_app)
    assert db["sslmode"] == "verify-full", db
    assert out["app"].get("standby") == "false", out["app"]
    members = out["members"]
    for member in members:
        assert "error" not in member["any"], member
    if not store.get("ha"):
        assert len(members) == 1 and "error" not in members[0]["rw"], members
        return
    nodes = list(store["nodes"])
    assert str(db["host"]).split(",") == [str(n["name"]) for n in nodes], db
    assert str(db["port"]).split(",") == [str(n["port"]) for n in nodes], db
    assert db.get("target_session_attrs") == "read-write", db
    assert 0 < int(db["connect_timeout"]) <= 5, f"a dead member holds each request {db['connect_timeout']} s"
    primary = primary_of(store)
    assert out["app"]["addr"] == primary["ha_address"], (out["app"], primary["name"])
    by_role = {m["host"]: m for m in members}
    assert by_role[primary["name"]]["any"]["standby"] == "false", by_role
    assert "error" not in by_role[primary["name"]]["rw"], by_role
    standbys = [m for name, m in by_role.items() if name != primary["name"]]
    assert len(standbys) == len(nodes) - 1, by_role
    for member in standbys:
        assert member["any"]["standby"] == "true", member
        assert "error" in member["rw"], f"standby {member['host']} took a read-write session: {member}"


def _row(app: App, sid: str) -> tuple[Any, ...] | None:
    store, entry = named_store(app), store_app(app)
    with _connect(store, entry) as conn:
        row = conn.execute(sql.SQL("SELECT created_at, modified_at FROM {}.{} WHERE session_id = %s")
                           .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])), (sid,)).fetchone()
    return tuple(row) if row else None


def _age(app: App, sid: str, seconds: int) -> None:
    """Move the row's created_at into the past (modified_at stays: the session is active)."""
    store, entry = named_store(app), store_app(app)
    with _connect(store, entry) as conn:
        conn.execute(sql.SQL("UPDATE {}.{} SET created_at = created_at - %s, modified_at = %s WHERE session_id = %s")
                     .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])),
                     (seconds, int(time.time()), sid))


def test_session_past_the_absolute_timeout_is_gone(pg_app: App) -> None:
    """An active session created longer ago than the absolute timeout is not adopted: strict mode gives a new id."""
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    absolute = int(pg_app["absolute_timeout"])
    try:
        _age(pg_app, sid, absolute - 60)
        assert php(pg_app, "read", sid, seed)["id"] == sid, "control: a session inside the absolute timeout"
        _age(pg_app, sid, 120)
        read = php(pg_app, "read", sid, seed)
        assert read["id"] != sid and read["user"] is None and read["keys"] == [], read
        _delete(pg_app, read["id"])
    finally:
        _delete(pg_app, sid)


def test_regeneration_keeps_created_at(pg_app: App) -> None:
    """session_regenerate_id() moves the data to a new id without restarting the absolute timeout."""
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    new = ""
    try:
        _age(pg_app, sid, 3600)
        before = _row(pg_app, sid)
        assert before is not None
        regenerated = php(pg_app, "regen", sid, seed)
        new = regenerated["id"]
        assert new != sid and regenerated["user"] == [7, b"admin\0root".hex(), "00"], regenerated
        assert _row(pg_app, sid) is None, "regenerate_id(true) must delete the old row"
        after = _row(pg_app, new)
        assert after is not None and after[0] == before[0], (before, after)
    finally:
        _delete(pg_app, sid)
        if new:
            _delete(pg_app, new)


def _connect(store: dict[str, Any], entry: dict[str, Any]) -> psycopg.Connection[Any]:
    """The app's role on the store; for an HA store the member that accepts writes now (multi-host
    DSN over every member, target_session_attrs=read-write: after a failover not the member the client view names)."""
    nodes = list(store.get("nodes") or []) if store.get("ha") else []
    params: dict[str, Any] = {
        "host": ",".join(str(n["client_host"]) for n in nodes) if nodes else store["host"],
        "port": ",".join(str(n["client_port"]) for n in nodes) if nodes else int(store["port"]),
        "dbname": store["database"], "user": entry["name"],
        "password": entry["password"], "sslmode": "verify-full", "sslrootcert": store["ca_cert_local"],
        "connect_timeout": 10, "application_name": "session-verify", "autocommit": True,
    }
    if nodes:
        params["target_session_attrs"] = "read-write"
    if str(store["clientcert"]) != "none":
        params.update(sslcert=entry["client_cert_local"], sslkey=entry["client_key_local"])
    return psycopg.connect(**params)


def _delete(app: App, sid: str) -> None:
    store, entry = named_store(app), store_app(app)
    with _connect(store, entry) as conn:
        conn.execute(sql.SQL("DELETE FROM {}.{} WHERE session_id = %s")
                     .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])), (sid,))
