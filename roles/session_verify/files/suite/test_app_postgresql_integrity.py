"""PHP sessions on a PostgreSQL store: an ended session stays ended, one clock, one app's share of connections.

- A request in flight across a logout (session_destroy) or a login
  (session_regenerate_id(true)) of the same session must not write it back:
  the handler upserted on every write, so the slow request resurrected the
  session it had read (issue 22, item 5).
- created_at/modified_at and the expiry cutoffs are the database's now(),
  whatever the app host's clock says: the GC timer compares with the
  database's clock (issue 22, item 8).
- The app's login role has a connection limit: its (limit+1)th connection is
  refused with "too many connections for role", the limit-th admitted
  (issue 22, item 6).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import psycopg
import pytest
from app_client import needs_probe, new_session, reply, request
from pg_app_client import App, db_now, delete, named_store, php, row, store_app
from pg_app_client import pytest_generate_tests as pytest_generate_tests  # pg_app
from pg_client import connect, primary_of, psql


@pytest.mark.parametrize("skew", [-7200, 7200], ids=["app-clock-behind", "app-clock-ahead"])
def test_expiry_uses_the_database_clock(pg_app: App, skew: int) -> None:
    """created_at and modified_at are the database's now() and expiry is judged by it, whatever the app
    host's clock says (the GC timer compares with the database's now()). A handler on a clock two hours
    off (its time() overridden) writes the database's time, and a session it wrote is live for it."""
    idle = int(pg_app["idle_timeout"])
    skew = skew if abs(skew) > idle else (idle + 600) * (1 if skew > 0 else -1)
    seed = secrets.token_hex(8)
    before = db_now(pg_app)
    sid = php(pg_app, "write", "new", seed, skew=skew)["id"]
    try:
        stored = row(pg_app, sid)
        after = db_now(pg_app)
        assert stored is not None, "the session was not stored"
        assert before - 1 <= stored[0] <= after + 1 and stored[1] is None, \
            f"created_at {stored[0]} is not the database's clock ({before}..{after}; app clock {skew:+d} s)"
        time.sleep(1.1)
        read = php(pg_app, "read", sid, seed, skew=skew)
        assert read["id"] == sid, f"a fresh session was judged expired by the app host's clock ({skew:+d} s)"
        stored = row(pg_app, sid)
        assert stored is not None and stored[1] is not None, stored
        assert abs(int(stored[1]) - db_now(pg_app)) <= 2, \
            f"modified_at {stored[1]} is not the database's clock (app clock {skew:+d} s)"
    finally:
        delete(pg_app, sid)


@pytest.mark.parametrize("ending", ["logout", "login"])
def test_a_request_in_flight_does_not_bring_back_an_ended_session(pg_app: App, ending: str) -> None:
    """A slow request on session S (read, then written 4 s later) while a logout (session_destroy) or a
    login (session_regenerate_id(true)) ends S: after both, S is not stored and not resumable. The
    handler upserted on every write and brought the ended session back."""
    needs_probe(pg_app)
    sid = new_session(pg_app)
    slow: dict[str, Any] = {}

    def slow_request() -> None:
        slow["body"] = reply(pg_app, request(pg_app, "GET", "/probe/session?sleep_ms=4000", sid))

    thread = threading.Thread(target=slow_request, daemon=True)
    thread.start()
    time.sleep(1.5)  # the slow request has read S and sleeps
    ended = reply(pg_app, request(pg_app, "POST", f"/probe/{ending}", sid))
    thread.join(timeout=30)
    assert slow.get("body") == {"id": sid, "count": 2}, \
        f"inconclusive: the slow request did not read S before the {ending} ({slow})"
    assert row(pg_app, sid) is None, f"the {ending} was undone: a request in flight wrote S back"
    replay = reply(pg_app, request(pg_app, "GET", "/probe/session", sid))
    assert replay["id"] != sid and replay["count"] == 1, f"S resumed after the {ending}: {replay}"
    delete(pg_app, replay["id"])
    if ending == "login":
        assert ended["id"] != sid and row(pg_app, ended["id"]) is not None, ended
        delete(pg_app, ended["id"])


def _backends(app: App, role: str) -> int:
    return int(psql(primary_of(named_store(app)),
                    f"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = '{role}'"))


def test_app_login_roles_have_a_connection_limit(pg_app: App) -> None:
    entry = store_app(pg_app)
    limit = entry.get("connection_limit")
    assert isinstance(limit, int) and limit > 0, f"no connection limit in the store's client view: {limit!r}"
    roles = list(entry.get("login_roles") or [entry["name"]])
    quoted = ",".join(f"'{r}'" for r in roles)
    rows = psql(named_store(pg_app),
                f"SELECT rolname || '=' || rolconnlimit FROM pg_catalog.pg_roles WHERE rolname IN ({quoted})")
    assert sorted(rows.split()) == sorted(f"{r}={limit}" for r in roles), rows


def test_the_connection_after_the_limit_is_refused(pg_app: App) -> None:
    """As the app's login role (password, certificate) on the app's store: connections are opened until
    one is refused; at that moment the role holds exactly its limit (the app hosts' persistent FPM
    connections included)."""
    # On the member that takes writes now: the app's own persistent connections are there.
    store, entry = primary_of(named_store(pg_app)), store_app(pg_app)
    limit = entry.get("connection_limit")
    assert isinstance(limit, int) and limit > 0, f"no connection limit: {limit!r}"
    held: list[psycopg.Connection[Any]] = []
    count, message = -1, ""
    try:
        # An app host's FPM worker may close its persistent connection meanwhile: the count then falls
        # below the limit and the next round fills the freed place.
        for _ in range(3):
            for _ in range(limit + 1):
                try:
                    held.append(connect(store, app=entry))
                except psycopg.OperationalError as exc:
                    message = str(exc)
                    break
            assert "too many connections for role" in message, \
                f"{len(held)} connections of the test alone, none refused (limit {limit}): {message!r}"
            count = _backends(pg_app, entry["name"])
            if count == limit:
                break
        assert held, "not even one connection was admitted"
        assert count == limit, f"refused at {count} connections of {entry['name']}, limit {limit}"
        assert held[-1].execute("SELECT 1").fetchone() == (1,), "control: the last admitted connection works"
    finally:
        for conn in held:
            conn.close()
