"""PostgreSQL HA session stores (Patroni + etcd): the PDO handler reconnects once.

On the app host, the kit's SessionKit\\PdoSessionHandler (multi-host DSN from
the rendered config) gets its backend terminated: the next write succeeds
over a new connection, and a reconnect that fails as well gives up after
that one retry. A persistent handle that is alive but refuses the statement
is ended, the retry runs on a new connection, and the worker's next request
gets its persistent handle reopened.

What these files add to the single-node ones, and where their refusals are
tried from: see test_postgresql_ha_replication.py.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import host_for
from pg_client import NEEDS_CLUSTER, ha_app

pytestmark = NEEDS_CLUSTER


def run_as_app(script: str) -> dict[str, Any]:
    """Run a PHP script as the HA app's user with its rendered config; its last line of JSON."""
    app = ha_app()
    result = host_for(app["name"]).run("runuser -u %s -- php -r %s %s", app["user"], script, app["config_file"])
    assert result.rc == 0, result.stderr[-2000:]
    body: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return body


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
    body = run_as_app(RECONNECT_PHP)
    assert body["first"] is True and body["killed"] == 1, body
    assert body["second"] is True and body["reconnects"] == 1, body
    assert body["read"] == "a|i:2;", body
    assert body["gave_up"] is True and body["doomed_reconnects"] == 1, body


# --- a persistent handle that is alive but unusable is never handed back ---------------------------

# argv: config file. A persistent connection of the app's DSN is left in a
# state no liveness check sees: its session made read-only (what a handle
# stuck on a server that stopped taking writes looks like to PDO). The
# handler from the rendered config gets that handle: its write must succeed
# on a new connection (one reconnect), and the worker's next handler must get
# a reopened, writable persistent handle (another backend, no reconnect).
POISONED_PHP = r"""
[, $configFile] = $argv;
$config = require $configFile;
require_once $config['handler']['file'];
$config['db']['persistent'] = true;
$config['db']['application_name'] = 'kit-poisoned';
$poison = \SessionKit\PdoSessionHandler::connect($config['db']);
$poison->exec('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
$pidBefore = (int) $poison->query('SELECT pg_backend_pid()')->fetchColumn();
$id = 'kit-poisoned-' . bin2hex(random_bytes(8));
$handler = \SessionKit\PdoSessionHandler::fromConfig($config);
$result = ['write' => $handler->write($id, 'a|i:1;'), 'reconnects' => $handler->reconnects,
           'read' => $handler->read($id)];
$next = \SessionKit\PdoSessionHandler::fromConfig($config);
$result['next_write'] = $next->write($id . 'n', 'b|i:1;');
$result['next_reconnects'] = $next->reconnects;
$again = \SessionKit\PdoSessionHandler::connect($config['db']);
$result['reopened'] = (int) $again->query('SELECT pg_backend_pid()')->fetchColumn() !== $pidBefore;
$result['read_only'] = $again->query('SHOW transaction_read_only')->fetchColumn();
$next->destroy($id . 'n');
$next->destroy($id);
echo json_encode($result), "\n";
"""


def test_pdo_handler_never_retries_on_the_same_unusable_persistent_handle() -> None:
    body = run_as_app(POISONED_PHP)
    assert body["write"] is True and body["reconnects"] == 1, body
    assert body["read"] == "a|i:1;", body
    assert body["next_write"] is True and body["next_reconnects"] == 0, body
    assert body["reopened"] is True and body["read_only"] == "off", body
