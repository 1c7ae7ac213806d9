"""PHP session apps (role php_session_app), proven over real HTTPS.

The suite is the browser and the attacker: it talks to each app's live probe
through nginx with the kit's CA (asking for the app's server name: nginx
refuses other names), reads the raw Set-Cookie and Cache-Control headers, and
checks in the store itself (Redis as admin through its published port,
PostgreSQL as the application role with verify-full, the files directory over
the inventory connection) that the session is where the app says it is, with
the lifetime the inventory asks for.

The probe is a verification instrument that an inventory may leave off
(php_session_app_probe_enabled: false, the default): the checks that need it
are then skipped with the reason "probe disabled", never failed.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
import time
from typing import Any

import psycopg
import pytest
import redis
import requests
from conftest import CONTEXT, files_containing, host_for, no_retry
from requests.adapters import HTTPAdapter
from tlsprobe import client_context, handshake

App = dict[str, Any]
Store = dict[str, Any]


def _app_id(entry: App) -> str:
    return f"{entry['name']}:{entry['app']}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per app (several per host), named host:app."""
    if "php_app" in metafunc.fixturenames:
        entries = CONTEXT.get("apps", [])
        if entries:
            metafunc.parametrize("php_app", entries, ids=[_app_id(e) for e in entries], scope="module")
        else:
            metafunc.parametrize("php_app", [pytest.param(None, marks=pytest.mark.skip(reason="no apps"))])


# --- helpers ------------------------------------------------------------------------

def store_of(app: App) -> Store:
    key = {"redis": "redis", "postgresql": "postgresql"}[app["store"]]
    for store in CONTEXT.get(key, []):
        if store["name"] == app["store_host"]:
            return dict(store)
    raise AssertionError(f"store {app['store_host']} of {_app_id(app)} is not in the verification context")


PROBE_KEY = "_kit_probe"
# What Phalcon's Version::get() reports per PECL release (the v5.18.2 tag says 5.18.1).
REPORTED = {"5.18.2": "5.18.1"}


def has_phalcon(app: App) -> bool:
    """The client view says the role installs Phalcon on the app's host (its default, pecl, when unsaid)."""
    return str(app.get("phalcon", "pecl")) != "none"


def framework(app: App) -> str:
    """What must serve the app's probe: Phalcon's Session\\Manager when installed, else PHP's native handlers."""
    if not has_phalcon(app):
        return "php"
    release = str(app["phalcon_release"])
    return f"phalcon {REPORTED.get(release, release)}"


def probe_key(app: App) -> str:
    """The probe's one reserved entry: Phalcon's Manager namespaces keys with its uniqueId (the app's name)."""
    return f"{app['app']}#{PROBE_KEY}" if has_phalcon(app) else PROBE_KEY


def reply(app: App, response: requests.Response) -> dict[str, Any]:
    """A probe reply without its "framework" field, after checking that field names what must serve it."""
    body = dict(response.json())
    assert body.pop("framework", None) == framework(app), f"probe not served by {framework(app)}: {response.text}"
    return body


def needs_probe(app: App) -> None:
    """Skip (never fail) a probe-based check on an app that does not serve the probe."""
    if not app["probe"]:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split("[")[0].split(" ")[0]
        pytest.skip(f"probe disabled on {_app_id(app)} (php_session_app_probe_enabled: false): {test} not run")


class _ServerNameAdapter(HTTPAdapter):
    """HTTPS to the URL's address, but TLS SNI and certificate check for the app's server name.

    nginx refuses handshakes for names no app serves, and a URL with an IP
    address sends none: a browser would use the name, so does the suite.
    """

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(server_hostname=self._server_name, assert_hostname=self._server_name)
        super().init_poolmanager(*args, **kwargs)


def request(app: App, method: str, path: str, sid: str | None = None, status: int | None = 200) -> requests.Response:
    """One HTTPS request to the app by its server name (status None: any status)."""
    headers = {"Host": app["server_name"]}
    if sid:
        headers["Cookie"] = f"{app['cookie_name']}={sid}"
    with requests.Session() as session:
        session.mount("https://", _ServerNameAdapter(app["server_name"]))
        response = session.request(method, app["url"].rstrip("/") + path, headers=headers,
                                   verify=app["ca_cert_local"], timeout=15, allow_redirects=False)
    if status is not None:
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text[:300]}"
    return response


def probe_state(app: App, data: str) -> dict[str, int]:
    """The probe's part of a stored session: asserts it is the session's only entry; its int fields."""
    key = probe_key(app)
    match = re.fullmatch(re.escape(key) + r'\|a:\d+:\{((?:s:\d+:"\w+";i:\d+;)*)\}', data)
    assert match, f"the probe must keep everything under {key!r} only: {data!r}"
    return {k: int(v) for k, v in re.findall(r's:\d+:"(\w+)";i:(\d+);', match.group(1))}


def set_cookies(response: requests.Response) -> list[tuple[str, str, dict[str, str]]]:
    """Every Set-Cookie header as (name, value, {attribute: value}), attributes lower-cased."""
    cookies = []
    for header in response.raw.headers.getlist("Set-Cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        parsed = {}
        for attr in attrs:
            key, _, val = attr.partition("=")
            parsed[key.strip().lower()] = val.strip()
        cookies.append((name, value, parsed))
    return cookies


def session_cookie(app: App, response: requests.Response) -> tuple[str, dict[str, str]] | None:
    mine = [(value, attrs) for name, value, attrs in set_cookies(response) if name == app["cookie_name"]]
    assert len(mine) <= 1, set_cookies(response)
    return mine[0] if mine else None


def new_session(app: App) -> str:
    response = request(app, "GET", "/probe/session")
    body = reply(app, response)
    assert body["count"] == 1
    cookie = session_cookie(app, response)
    assert cookie and cookie[0] == body["id"]
    return str(body["id"])


def redis_admin(store: Store, client_cert: tuple[str, str] | None) -> redis.Redis:
    kwargs: dict[str, Any] = {}
    if str(store["tls_auth_clients"]) == "yes":
        assert client_cert, "mTLS store but no client certificate for the suite"
        kwargs = {"ssl_certfile": client_cert[0], "ssl_keyfile": client_cert[1]}
    return redis.Redis(host=store["host"], port=int(store["port"]), username=store["admin_user"],
                       password=store["admin_password"], ssl=True, ssl_ca_certs=store["ca_cert_local"],
                       ssl_check_hostname=True, ssl_cert_reqs="required", socket_timeout=10,
                       decode_responses=True, protocol=2, retry=no_retry(), **kwargs)


def redis_prefix(app: App, store: Store) -> str:
    return str(next(u["key_prefix"] for u in store["app_users"] if u["name"] == app["store_user"]))


def pg_connect(store: Store) -> psycopg.Connection[Any]:
    """The store as the application role, with full verification (and its certificate when required)."""
    params: dict[str, Any] = {
        "host": store["host"], "port": int(store["port"]), "dbname": store["database"], "user": store["app_role"],
        "password": store["app_password"], "sslmode": "verify-full", "sslrootcert": store["ca_cert_local"],
        "connect_timeout": 10, "application_name": "session-verify",
    }
    if str(store["clientcert"]) != "none":
        params.update(sslcert=store["client_cert_local"], sslkey=store["client_key_local"])
    return psycopg.connect(**params)


def pg_row(store: Store, sid: str) -> tuple[Any, ...] | None:
    with pg_connect(store) as conn:
        row = conn.execute(
            f'SELECT data, created_at, modified_at FROM "{store["schema"]}"."{store["table"]}" WHERE session_id = %s',
            (sid,)).fetchone()
    if not row:
        return None
    # data is bytea (binary-safe sessions): compare it as text here.
    return (bytes(row[0]).decode("utf-8", "surrogateescape"), *row[1:])


def _text(value: Any) -> str:
    """Session data as text, whether the store keeps text or bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def stored(app: App, sid: str, client_cert: tuple[str, str] | None) -> str | None:
    """The session's data as the store holds it (None: not stored)."""
    if app["store"] == "redis":
        store = store_of(app)
        value = redis_admin(store, client_cert).get(redis_prefix(app, store) + sid)
        return None if value is None else str(value)
    if app["store"] == "postgresql":
        row = pg_row(store_of(app), sid)
        return None if row is None else _text(row[0])
    host = host_for(app["name"])
    path = f"{app['files_dir']}/sess_{sid}"
    return str(host.file(path).content_string) if host.file(path).exists else None


# --- cookie and headers -----------------------------------------------------------------

def test_session_cookie_is_hardened(php_app: App) -> None:
    needs_probe(php_app)
    response = request(php_app, "GET", "/probe/session")
    cookie = session_cookie(php_app, response)
    assert cookie, set_cookies(response)
    value, attrs = cookie
    assert value == reply(php_app, response)["id"]
    assert php_app["cookie_name"].startswith("__Host-")
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == php_app["cookie_samesite"].lower()
    assert attrs.get("path") == "/"
    assert "domain" not in attrs
    assert "expires" not in attrs and "max-age" not in attrs


def test_probe_names_what_serves_the_session(php_app: App) -> None:
    """Phalcon installed: the probe's session comes from Phalcon\\Session\\Manager (its version), else native PHP."""
    needs_probe(php_app)
    expected = framework(php_app)
    for method, path in (("GET", "/probe/session"), ("POST", "/probe/login")):
        body = request(php_app, method, path).json()
        assert body.get("framework") == expected, f"{method} {path}: {body}"


def test_default_samesite_is_strict(php_app: App) -> None:
    if php_app["app"] == "brief":  # the scenario's Lax app
        pytest.skip("Lax on purpose")
    assert php_app["cookie_samesite"] == "Strict"


def test_responses_are_not_cacheable(php_app: App) -> None:
    needs_probe(php_app)
    response = request(php_app, "GET", "/probe/session")
    cache_control = response.headers.get("Cache-Control", "").lower()
    assert "no-store" in cache_control and "no-cache" in cache_control, cache_control
    assert response.headers.get("Strict-Transport-Security", "").startswith("max-age=")
    assert "X-Powered-By" not in response.headers


# --- the session lives in the store ----------------------------------------------------------

def test_count_round_trips_through_the_store(php_app: App, client_cert: tuple[str, str] | None) -> None:
    needs_probe(php_app)
    sid = new_session(php_app)
    response = request(php_app, "GET", "/probe/session", sid)
    assert reply(php_app, response) == {"id": sid, "count": 2}
    assert session_cookie(php_app, response) is None, "a resumed session must not get a new cookie"
    data = stored(php_app, sid, client_cert)
    assert data is not None and probe_state(php_app, data) == {"count": 2}, data


def test_redis_key_carries_the_idle_timeout(php_app: App, client_cert: tuple[str, str] | None) -> None:
    if php_app["store"] != "redis":
        pytest.skip("Redis apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    store = store_of(php_app)
    ttl = redis_admin(store, client_cert).ttl(redis_prefix(php_app, store) + sid)
    idle = int(php_app["idle_timeout"])
    assert idle - 3 <= ttl <= idle, (ttl, idle)


def test_postgresql_row_is_written_with_timestamps(php_app: App) -> None:
    if php_app["store"] != "postgresql":
        pytest.skip("PostgreSQL apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    row = pg_row(store_of(php_app), sid)
    assert row is not None
    data, created_at, modified_at = row
    assert probe_state(php_app, _text(data)) == {"count": 1}
    assert abs(int(created_at) - time.time()) < 60 and modified_at is None
    request(php_app, "GET", "/probe/session", sid)
    row = pg_row(store_of(php_app), sid)
    assert row is not None and row[2] is not None and int(row[2]) >= int(created_at)
    assert int(php_app["idle_timeout"]) <= int(store_of(php_app)["idle_timeout"])


def test_files_store_is_private_to_the_pool(php_app: App) -> None:
    if php_app["store"] != "files":
        pytest.skip("files apps only")
    needs_probe(php_app)
    sid = new_session(php_app)
    host = host_for(php_app["name"])
    directory = host.file(php_app["files_dir"])
    assert (directory.user, directory.group, directory.mode) == (php_app["user"], php_app["group"], 0o700)
    session = host.file(f"{php_app['files_dir']}/sess_{sid}")
    assert session.exists and session.user == php_app["user"] and session.mode == 0o600


def _redis_connections_received(app: App, client_cert: tuple[str, str] | None) -> int:
    """Connections the Redis store accepted so far (counted on accept: the admin connection is in)."""
    return int(redis_admin(store_of(app), client_cert).info("stats")["total_connections_received"])


def _pg_app_backends(app: App) -> set[tuple[int, str]]:
    """(pid, start time) of the app's open PostgreSQL connections."""
    with pg_connect(store_of(app)) as conn:
        rows = conn.execute("SELECT pid, backend_start FROM pg_stat_activity "
                            "WHERE usename = current_user AND application_name = %s", (app["app"],)).fetchall()
    return {(int(pid), str(started)) for pid, started in rows}


def test_store_connections_are_reused(php_app: App, client_cert: tuple[str, str] | None) -> None:
    """Persistent connections: a burst of requests opens at most one connection per FPM worker.

    A connection per request costs a TLS handshake and authentication each
    time (docs/performance.md); phpredis silently reconnects when its
    liveness check is refused by the ACL, which only this test notices.
    """
    if php_app["store"] not in ("redis", "postgresql"):
        pytest.skip("store apps only")
    needs_probe(php_app)
    if not php_app["persistent"]:
        pytest.skip("persistent connections are off for this store")
    sid = new_session(php_app)
    children = int(php_app["max_children"])
    burst = 4 * children
    if php_app["store"] == "redis":
        before = _redis_connections_received(php_app, client_cert)
        for _ in range(burst):
            request(php_app, "GET", "/probe/session", sid)
        opened = _redis_connections_received(php_app, client_cert) - before
        assert opened <= children, f"{opened} connections for {burst} requests"
        return
    backends = _pg_app_backends(php_app)
    assert backends, "no persistent connection of the app is open after a request"
    for _ in range(burst):
        request(php_app, "GET", "/probe/session", sid)
    after = _pg_app_backends(php_app)
    new = after - backends
    assert len(new) < children and len(after) <= children, \
        f"{len(new)} new connections for {burst} requests: {sorted(after)}"


# --- fixation, regeneration, expiry ------------------------------------------------------------

def test_attacker_chosen_id_is_never_adopted(php_app: App, client_cert: tuple[str, str] | None) -> None:
    needs_probe(php_app)
    chosen = secrets.token_hex(20)  # well-formed for every sid_bits_per_character
    for _ in range(2):
        response = request(php_app, "GET", "/probe/session", chosen)
        body = reply(php_app, response)
        assert body["id"] != chosen and body["count"] == 1
        cookie = session_cookie(php_app, response)
        assert cookie and cookie[0] == body["id"]
        assert stored(php_app, chosen, client_cert) is None, "the attacker's id was stored"


def test_login_regenerates_the_id_and_kills_the_old_one(php_app: App, client_cert: tuple[str, str] | None) -> None:
    needs_probe(php_app)
    old = new_session(php_app)
    assert reply(php_app, request(php_app, "GET", "/probe/session", old))["count"] == 2
    response = request(php_app, "POST", "/probe/login", old)
    new = reply(php_app, response)["id"]
    assert new != old
    cookie = session_cookie(php_app, response)
    assert cookie and cookie[0] == new
    assert stored(php_app, old, client_cert) is None, "the pre-login session is still stored"
    # The old id resumes nothing: a fresh session with a fresh id.
    replay = reply(php_app, request(php_app, "GET", "/probe/session", old))
    assert replay["id"] not in (old, new) and replay["count"] == 1
    # The new id carries the session on.
    assert reply(php_app, request(php_app, "GET", "/probe/session", new)) == {"id": new, "count": 3}
    # The login time lives under the probe's reserved key; nothing like "user" is written.
    data = stored(php_app, new, client_cert)
    assert data is not None, "the logged-in session is not stored"
    state = probe_state(php_app, data)
    assert state["count"] == 3 and abs(state["login"] - time.time()) < 60, state


def test_absolute_timeout_ends_a_logged_in_session(php_app: App, client_cert: tuple[str, str] | None) -> None:
    """An active session (requests well within the idle timeout) ends at the absolute timeout after login.

    The store only enforces the idle timeout (Redis TTL); the absolute one is
    the app's job (role README): the probe does it as apps must.
    """
    needs_probe(php_app)
    absolute, idle = int(php_app["absolute_timeout"]), int(php_app["idle_timeout"])
    if absolute > 20:
        pytest.skip(f"absolute timeout {absolute}s: the scenario's short-lived app proves it")
    pre = new_session(php_app)
    before = time.time()
    sid = reply(php_app, request(php_app, "POST", "/probe/login", pre))["id"]
    after = time.time()
    data = stored(php_app, sid, client_cert)
    assert data is not None and "login" in probe_state(php_app, data), f"no login time under {PROBE_KEY!r}: {data!r}"
    # Busy: a request every half idle timeout. Before the deadline the session
    # goes on; around it (clock granularity) either; after it, it is refused.
    count, alive_until = 1, 0.0
    while (now := time.time()) < after + absolute + 1.5:
        body = reply(php_app, request(php_app, "GET", "/probe/session", sid))
        if now < before + absolute - 1.5:
            count += 1
            assert body == {"id": sid, "count": count}, f"ended early ({now - before:.1f}s): {body}"
            alive_until = now - before
        time.sleep(min(idle / 2, max(0.0, after + absolute + 1.5 - time.time())))
    assert alive_until > idle, f"the session must outlive the idle timeout first ({alive_until:.1f}s)"
    response = request(php_app, "GET", "/probe/session", sid)
    body = reply(php_app, response)
    assert body["id"] != sid and body["count"] == 1, f"over-age session resumed: {body}"
    cookie = session_cookie(php_app, response)
    assert cookie and cookie[0] == body["id"]
    assert stored(php_app, sid, client_cert) is None, "the over-age session is still stored"


def test_idle_session_expires(php_app: App, client_cert: tuple[str, str] | None) -> None:
    needs_probe(php_app)
    idle = int(php_app["idle_timeout"])
    if idle > 10:
        pytest.skip(f"idle timeout {idle}s: the scenario's short-idle app proves expiry")
    sid = new_session(php_app)
    time.sleep(idle / 2)
    assert reply(php_app, request(php_app, "GET", "/probe/session", sid)) == {"id": sid, "count": 2}
    time.sleep(idle + 2)
    body = reply(php_app, request(php_app, "GET", "/probe/session", sid))
    assert body["id"] != sid and body["count"] == 1
    assert stored(php_app, sid, client_cert) is None


# --- HTTPS -------------------------------------------------------------------------------------

def _host_port(app: App) -> tuple[str, int]:
    rest = app["url"].split("://", 1)[1].rstrip("/")
    host, _, port = rest.rpartition(":")
    return host, int(port)


def test_tls_follows_the_intermediate_profile(php_app: App) -> None:
    host, port = _host_port(php_app)
    name = php_app["server_name"]
    ca = php_app["ca_cert_local"]
    old = client_context(ca, min_version=ssl.TLSVersion.TLSv1_1, max_version=ssl.TLSVersion.TLSv1_1)
    assert not handshake(host, port, name, old).ok
    weak = client_context(ca, max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA")
    assert not handshake(host, port, name, weak).ok
    good = client_context(ca, max_version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    result = handshake(host, port, name, good)
    assert result.ok and result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", result
    modern = handshake(host, port, name, client_context(ca, min_version=ssl.TLSVersion.TLSv1_3))
    assert modern.ok and modern.version == "TLSv1.3", modern


def _unverified() -> ssl.SSLContext:
    """A client that accepts any certificate: a failed handshake is the server's refusal."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_unknown_server_names_are_refused(php_app: App, version: ssl.TLSVersion) -> None:
    """nginx's default server refuses the handshake for a name no app serves, and without SNI."""
    host, port = _host_port(php_app)
    ctx = _unverified()
    ctx.minimum_version = ctx.maximum_version = version
    known = handshake(host, port, php_app["server_name"], ctx)
    assert known.ok, known
    for name in ("unknown.invalid", "store.example.org"):
        refused = handshake(host, port, name, ctx)
        assert not refused.ok, f"handshake for {name!r} accepted: {refused}"
    anonymous = handshake(host, port, None, ctx)  # type: ignore[arg-type]  # no SNI, as for an IP address
    assert not anonymous.ok, f"handshake without SNI accepted: {anonymous}"


def test_app_servers_send_the_security_headers(php_app: App) -> None:
    """Referrer-Policy and Content-Security-Policy as the inventory sets them (default: no-referrer, no framing)."""
    response = request(php_app, "GET", "/", status=None)
    assert response.status_code in (200, 403, 404), response.status_code
    headers = php_app.get("headers")
    assert isinstance(headers, dict), "the client view does not say which security headers the app sends"
    for header in ("Referrer-Policy", "Content-Security-Policy"):
        expected = headers.get(header, "")
        if expected:
            assert response.headers.get(header) == expected, (header, response.headers.get(header))
        else:
            assert header not in response.headers, header


def test_probe_is_gone_when_disabled(php_app: App) -> None:
    """An app without the probe answers 404 on /probe/* and starts no session there."""
    if php_app["probe"]:
        pytest.skip(f"probe enabled on {_app_id(php_app)}: the probe-based checks use it")
    for method, path in (("GET", "/probe/session"), ("POST", "/probe/login")):
        response = request(php_app, method, path, status=404)
        assert session_cookie(php_app, response) is None, f"{method} {path} started a session"


# --- host: files, modes, enforced settings ---------------------------------------------------------

def test_files_holding_secrets_are_not_world_readable(php_app: App) -> None:
    host = host_for(php_app["name"])
    config = host.file(php_app["config_file"])
    assert (config.user, config.group, config.mode) == ("root", php_app["group"], 0o640)
    pool = host.file(php_app["pool_file"])
    assert (pool.user, pool.group, pool.mode) == ("root", "root", 0o600)
    if php_app["store"] in ("redis", "postgresql"):
        store = store_of(php_app)
        secret = (next(u["password"] for u in store["app_users"] if u["name"] == php_app["store_user"])
                  if php_app["store"] == "redis" else store["app_password"])
        hits = files_containing(host, secret, ["/etc", "/usr/local/share", "/var/www"])
        assert hits and all(not host.file(p).mode & 0o004 for p in hits), hits
        assert php_app["config_file"] in hits


def test_config_is_valid_php_and_readable_by_the_pool_only(php_app: App) -> None:
    host = host_for(php_app["name"])
    assert host.run("php -n -l %s", php_app["config_file"]).rc == 0
    check = host.run("runuser -u %s -- php -r %s", php_app["user"],
                     f"$c = require '{php_app['config_file']}'; echo $c['store'], ' ', $c['idleTimeout'];")
    assert check.rc == 0 and check.stdout.strip() == f"{php_app['store']} {php_app['idle_timeout']}", check.stderr
    other = host.run("runuser -u nobody -- cat %s", php_app["config_file"])
    assert other.rc != 0


def test_pool_enforces_the_session_settings(php_app: App) -> None:
    host = host_for(php_app["name"])
    pool = host.file(php_app["pool_file"]).content_string
    expected = [
        "php_admin_flag[session.use_strict_mode] = on", "php_admin_flag[session.use_cookies] = on",
        "php_admin_flag[session.use_only_cookies] = on", "php_admin_flag[session.use_trans_sid] = off",
        "php_admin_flag[session.cookie_secure] = on", "php_admin_flag[session.cookie_httponly] = on",
        f"php_admin_value[session.cookie_samesite] = {php_app['cookie_samesite']}",
        "php_admin_value[session.cookie_lifetime] = 0",
        f"php_admin_value[session.gc_maxlifetime] = {php_app['idle_timeout']}",
        "php_admin_value[session.cache_limiter] = nocache", "php_admin_flag[session.lazy_write] = on",
        f'php_admin_value[session.name] = "{php_app["cookie_name"]}"',
    ]
    for line in expected:
        assert line in pool.splitlines(), line
    assert ("session.sid_length" in pool) == php_app["sid_options"]
    assert "sid_bits_per_character] = 6" not in pool
    assert host.run("php-fpm%s --test", php_app["php_version"]).rc == 0


def test_cli_gets_the_same_hardening(php_app: App) -> None:
    host = host_for(php_app["name"])
    keys = ["use_strict_mode", "use_only_cookies", "use_trans_sid", "cookie_secure", "cookie_httponly",
            "cookie_lifetime", "lazy_write", "sid_length", "sid_bits_per_character"]
    code = "foreach ($argv as $i => $k) if ($i) echo $k, '=', ini_get('session.' . $k), PHP_EOL;"
    out = host.check_output("php -r %s -- " + " ".join(keys), code)
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert values["use_strict_mode"] == "1" and values["use_only_cookies"] == "1"
    assert values["use_trans_sid"] == "0" and values["cookie_secure"] == "1" and values["cookie_httponly"] == "1"
    assert values["cookie_lifetime"] == "0" and values["lazy_write"] == "1"
    assert values["sid_bits_per_character"] != "6"
    if php_app["sid_options"]:
        assert int(values["sid_length"]) >= 32


# --- secrets in Ansible output -------------------------------------------------------------------

def test_no_secret_in_ansible_output(php_app: App, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "php_session_app" in ansible_log, "log does not hold the converge"
    if php_app["store"] == "redis":
        store = store_of(php_app)
        secrets_ = [u["password"] for u in store["app_users"]]
    elif php_app["store"] == "postgresql":
        secrets_ = [store_of(php_app)["app_password"]]
    else:
        secrets_ = []
    for secret in secrets_:
        assert secret not in ansible_log
