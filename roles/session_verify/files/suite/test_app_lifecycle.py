"""PHP session apps: session fixation, id regeneration at login, idle and absolute expiry.

The suite is the attacker and the patient user: an id it chooses is never
adopted, a login gets a new id and kills the old one, a busy session ends at
the absolute timeout and an idle one at the idle timeout (the scenario's
short-lived apps prove the timeouts; other apps skip them).
"""

from __future__ import annotations

import secrets
import time

import pytest
from app_client import PROBE_KEY, App, needs_probe, new_session, probe_state, reply, request, session_cookie, stored

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

