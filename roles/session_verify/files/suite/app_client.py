"""The suite's client of the PHP session apps (the test_app_* files and the tests that go through an app).

HTTPS to an app by its server name with the kit's CA, its live probe's
replies, the session cookie, and the session as its store holds it (Redis
as admin, PostgreSQL as the application role with verify-full, the files
directory over the inventory connection).
"""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg
import pytest
import redis
import requests
from conftest import CONTEXT, app_id, host_for, no_retry, suite_client_cert
from pg_client import writer_of
from redis_ha_client import settled
from requests.adapters import HTTPAdapter

App = dict[str, Any]
Store = dict[str, Any]


def named_store(app: App) -> Store:
    """The context entry of the host the client view names (``store_host``: a member, not necessarily the primary)."""
    key = {"redis": "redis", "postgresql": "postgresql"}[app["store"]]
    for store in CONTEXT.get(key, []):
        if store["name"] == app["store_host"]:
            return dict(store)
    raise AssertionError(f"store {app['store_host']} of {app_id(app)} is not in the verification context")


def store_of(app: App) -> Store:
    """The app's store as its sessions see it: the single node, or in an HA store the member that takes writes NOW.

    Found at run time, never "the first host of the group": Redis/Valkey by
    asking every Sentinel (they must agree, and the node must say ROLE
    master), PostgreSQL with libpq target_session_attrs=read-write over every
    member, as the app's own DSN does. A check on a standby finds no app
    connection and no fresh write, or passes without checking anything.
    """
    store = named_store(app)
    if not store.get("ha"):
        return store
    if app["store"] == "redis":
        group = [dict(s) for s in CONTEXT.get("redis", [])
                 if s.get("ha") and s.get("ha_group") == store.get("ha_group")]
        return settled(group, suite_client_cert())
    return writer_of(store)


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
        pytest.skip(f"probe disabled on {app_id(app)} (php_session_app_probe_enabled: false): {test} not run")


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


def as_text(value: Any) -> str:
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
        return None if row is None else as_text(row[0])
    host = host_for(app["name"])
    path = f"{app['files_dir']}/sess_{sid}"
    return str(host.file(path).content_string) if host.file(path).exists else None
