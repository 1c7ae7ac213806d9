"""The suite's client of the PHP apps on a PostgreSQL store (test_app_postgresql*.py).

The round-trip script the PHP CLI runs as an app's pool user with the app's
rendered config and SessionKit\\PdoSessionHandler (a fresh process: a new
request), optionally on a skewed clock; the app's store entry and its rows as
the app's own login role.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from app_client import named_store
from conftest import CONTEXT, host_for
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


# The same script on an app host whose clock is off by KIT_SKEW seconds: the
# handler's unqualified time() resolves to SessionKit\time() first.
SKEWED_PHP = ("namespace SessionKit { function time(): int { return \\time() + (int) getenv('KIT_SKEW'); } }\n"
              "namespace {\n" + PHP + "\n}\n")


def php(app: App, mode: str, sid: str, seed: str, skew: int | None = None) -> dict[str, Any]:
    """Run the round-trip script as the app's pool user (a fresh PHP process: a new request); with
    ``skew``, as if the app host's clock were that many seconds off."""
    host = host_for(app["name"])
    if skew is None:
        result = host.run("runuser -u %s -- php -r %s %s %s %s %s", app["user"], PHP, app["config_file"], mode,
                          sid, seed)
    else:
        result = host.run("runuser -u %s -- env KIT_SKEW=%s php -r %s %s %s %s %s", app["user"], str(skew),
                          SKEWED_PHP, app["config_file"], mode, sid, seed)
    assert result.rc == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-2000:]
    return dict(json.loads(lines[-1]))


def row(app: App, sid: str) -> tuple[Any, ...] | None:
    store, entry = named_store(app), store_app(app)
    with connect_as_app(store, entry) as conn:
        row = conn.execute(sql.SQL("SELECT created_at, modified_at FROM {}.{} WHERE session_id = %s")
                           .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])), (sid,)).fetchone()
    return tuple(row) if row else None


def age(app: App, sid: str, seconds: int) -> None:
    """Move the row's created_at into the past (modified_at stays: the session is active)."""
    store, entry = named_store(app), store_app(app)
    with connect_as_app(store, entry) as conn:
        conn.execute(sql.SQL("UPDATE {}.{} SET created_at = created_at - %s, modified_at = %s WHERE session_id = %s")
                     .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])),
                     (seconds, int(time.time()), sid))


def db_now(app: App) -> int:
    with connect_as_app(named_store(app), store_app(app)) as conn:
        row = conn.execute("SELECT CAST(extract(epoch FROM now()) AS bigint)").fetchone()
    assert row is not None
    return int(row[0])


def connect_as_app(store: dict[str, Any], entry: dict[str, Any]) -> psycopg.Connection[Any]:
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


def delete(app: App, sid: str) -> None:
    store, entry = named_store(app), store_app(app)
    with connect_as_app(store, entry) as conn:
        conn.execute(sql.SQL("DELETE FROM {}.{} WHERE session_id = %s")
                     .format(sql.Identifier(store["schema"]), sql.Identifier(entry["table"])), (sid,))
