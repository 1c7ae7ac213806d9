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

from conftest import host_for
from pg_app_client import App, age, connect_as_app, delete, named_store, php, row, store_app
from pg_app_client import pytest_generate_tests as pytest_generate_tests  # pg_app
from pg_client import primary_of
from psycopg import sql


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
        delete(pg_app, sid)


def test_stored_row_is_bytea_in_the_apps_own_table(pg_app: App) -> None:
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    store, entry = named_store(pg_app), store_app(pg_app)
    try:
        with connect_as_app(store, entry) as conn:
            row = conn.execute(sql.SQL("SELECT data, pg_typeof(data)::text FROM {}.{} WHERE session_id = %s")
                               .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])),
                               (sid,)).fetchone()
        assert row is not None and row[1] == "bytea"
        assert b'User":3:{s:8:"\x00User\x00id";i:7;' in bytes(row[0]), bytes(row[0])[:200]
    finally:
        delete(pg_app, sid)


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


def test_session_past_the_absolute_timeout_is_gone(pg_app: App) -> None:
    """An active session created longer ago than the absolute timeout is not adopted: strict mode gives a new id."""
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    absolute = int(pg_app["absolute_timeout"])
    try:
        age(pg_app, sid, absolute - 60)
        assert php(pg_app, "read", sid, seed)["id"] == sid, "control: a session inside the absolute timeout"
        age(pg_app, sid, 120)
        read = php(pg_app, "read", sid, seed)
        assert read["id"] != sid and read["user"] is None and read["keys"] == [], read
        delete(pg_app, read["id"])
    finally:
        delete(pg_app, sid)


def test_regeneration_keeps_created_at(pg_app: App) -> None:
    """session_regenerate_id() moves the data to a new id without restarting the absolute timeout."""
    seed = secrets.token_hex(8)
    sid = php(pg_app, "write", "new", seed)["id"]
    new = ""
    try:
        age(pg_app, sid, 3600)
        before = row(pg_app, sid)
        assert before is not None
        regenerated = php(pg_app, "regen", sid, seed)
        new = regenerated["id"]
        assert new != sid and regenerated["user"] == [7, b"admin\0root".hex(), "00"], regenerated
        assert row(pg_app, sid) is None, "regenerate_id(true) must delete the old row"
        after = row(pg_app, new)
        assert after is not None and after[0] == before[0], (before, after)
    finally:
        delete(pg_app, sid)
        if new:
            delete(pg_app, new)


