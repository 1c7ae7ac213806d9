"""Phalcon 5 on the app hosts (role php_session_app, php_session_app_phalcon).

Each app's pool user runs the PHP CLI on its app host through the role's
bootstrap (SessionKit\\PhalconSession, files/phalcon-session.php) with the
app's rendered config, exactly as a Phalcon app does: Phalcon\\Session\\Manager
with Adapter\\Redis (TLS with verification, ACL user, the key prefix, the
idle lifetime), Adapter\\Stream, or the kit's PDO handler via setAdapter().
The suite then looks into the store itself (Redis as admin, PostgreSQL as the
application role, the files directory over the inventory connection).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from app_client import REPORTED, redis_admin, redis_prefix, store_of, stored
from conftest import host_for

App = dict[str, Any]

BOOTSTRAP = "/usr/local/share/php-session-app/phalcon-session.php"

# One session step through the bootstrap: `version`, `count [ID]` (start,
# optionally resuming ID, count += 1) or `login ID` (resume ID, regenerateId(true)).
SCRIPT = r"""
require '""" + BOOTSTRAP + r"""';
[$_, $step, $id] = $argv + [null, '', ''];
$session = SessionKit\PhalconSession::fromConfig(SessionKit\PhalconSession::config());
if ($step === 'version') {
    echo json_encode(['version' => (new Phalcon\Support\Version())->get(), 'ext' => phpversion('phalcon'),
                      'manager' => get_class($session)]);
    exit;
}
if ($id !== '') {
    $session->setId($id);
}
$session->start();
if ($step === 'login') {
    $session->regenerateId(true);
    $session->set('user', 'probe');
}
$session->set('count', ($session->get('count') ?? 0) + 1);
$out = ['id' => $session->getId(), 'count' => $session->get('count'), 'adapter' => get_class($session->getAdapter())];
session_write_close();
echo json_encode($out);
"""

ADAPTERS = {
    "redis": "SessionKit\\KitRedisAdapter",  # Phalcon's Redis adapter, lock released by EVALSHA
    "files": "SessionKit\\PrivateStreamAdapter",  # Phalcon's Stream adapter, files 0600
    "postgresql": "SessionKit\\PdoSessionHandler",
}


def phalcon(app: App, step: str, sid: str = "") -> dict[str, Any]:
    """Run one step as the app's pool user with its SESSION_APP_CONFIG; its JSON reply."""
    host = host_for(app["name"])
    result = host.run("runuser -u %s -- env SESSION_APP_CONFIG=%s php -r %s -- %s %s",
                      app["user"], app["config_file"], SCRIPT, step, sid)
    assert result.rc == 0 and not result.stderr.strip(), f"{step}: rc={result.rc} {result.stdout} {result.stderr}"
    return dict(json.loads(result.stdout))


def new_session(app: App) -> str:
    reply = phalcon(app, "count")
    assert reply["count"] == 1 and reply["adapter"] == ADAPTERS[app["store"]], reply
    return str(reply["id"])


def test_phalcon_reports_its_version(phalcon_app: App) -> None:
    reply = phalcon(phalcon_app, "version")
    release = str(phalcon_app["phalcon_release"])
    assert reply["version"] == REPORTED.get(release, release) == reply["ext"], reply
    assert reply["manager"] == "Phalcon\\Session\\Manager"
    # PHP-FPM loads it too (its conf.d, not only the CLI's).
    modules = host_for(phalcon_app["name"]).check_output("php-fpm%s -m", phalcon_app["php_version"])
    assert "phalcon" in modules.split(), modules


def test_phalcon_session_round_trips_through_the_store(phalcon_app: App, client_cert: tuple[str, str] | None) -> None:
    sid = new_session(phalcon_app)
    assert phalcon(phalcon_app, "count", sid) == {"id": sid, "count": 2, "adapter": ADAPTERS[phalcon_app["store"]]}
    data = stored(phalcon_app, sid, client_cert)
    # Manager keys are "<uniqueId>#<key>"; the data is PHP's session encoding.
    assert data is not None and f"{phalcon_app['app']}#count|i:2;" in data, data
    if phalcon_app["store"] == "files":
        # Phalcon's own Stream adapter writes 0644 (the process umask); the kit's subclass 0600.
        session = host_for(phalcon_app["name"]).file(f"{phalcon_app['files_dir']}/sess_{sid}")
        assert session.user == phalcon_app["user"] and session.mode == 0o600, oct(session.mode)


def test_phalcon_redis_session_lands_under_the_prefix_with_the_idle_ttl(
        phalcon_app: App, client_cert: tuple[str, str] | None) -> None:
    if phalcon_app["store"] != "redis":
        pytest.skip("Redis apps only")
    sid = new_session(phalcon_app)
    store = store_of(phalcon_app)
    admin = redis_admin(store, client_cert)
    prefix = redis_prefix(phalcon_app, store)
    ttl = admin.ttl(prefix + sid)
    idle = int(phalcon_app["idle_timeout"])
    assert idle - 3 <= ttl <= idle, (ttl, idle)
    # Not under Phalcon's default prefix (outside the ACL pattern anyway).
    assert admin.exists("sess-reds-" + sid) == 0


def test_phalcon_regeneration_removes_the_old_session(phalcon_app: App, client_cert: tuple[str, str] | None) -> None:
    old = new_session(phalcon_app)
    assert stored(phalcon_app, old, client_cert) is not None
    reply = phalcon(phalcon_app, "login", old)
    new = str(reply["id"])
    assert new != old and reply["count"] == 2, reply
    assert stored(phalcon_app, old, client_cert) is None, "regenerateId(true) left the old session in the store"
    data = stored(phalcon_app, new, client_cert)
    assert data is not None and "user|s:5:\"probe\";" in data, data


def test_phalcon_does_not_adopt_an_attacker_chosen_id(phalcon_app: App, client_cert: tuple[str, str] | None) -> None:
    chosen = secrets.token_hex(20)  # well-formed for every sid_bits_per_character
    reply = phalcon(phalcon_app, "count", chosen)
    assert reply["id"] != chosen and reply["count"] == 1, reply
    assert stored(phalcon_app, chosen, client_cert) is None, "the attacker's id was stored"
    assert stored(phalcon_app, str(reply["id"]), client_cert) is not None
