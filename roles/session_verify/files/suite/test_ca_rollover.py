"""CA rollover under load (session_pki_ca_rollover: trust, issue, drop).

The app scenario's side effect keeps the old CA certificate and a client
certificate it signed (CN ledger) under MOLECULE_EPHEMERAL_DIRECTORY/ca-rollover/,
records the servers' main processes, runs the three rollover converges while
a bounded loop of session requests goes through shop (Redis) and ledger
(PostgreSQL) on every app host, then records the processes again. These
tests prove, from the client's side: no request failed and the loop's
sessions lived on, every server presents a certificate of the new CA, the
old CA verifies no server any more, a client certificate of the old CA is
refused (Redis, PostgreSQL), and no server process was restarted. Without
that record (any other inventory) they are skipped.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import CONTEXT, scenario_record
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pg_client import SSL_REQUEST, connect, pg_handshake
from tlsprobe import client_context, handshake

RECORD = scenario_record("ca-rollover", "load.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no CA rollover record (the molecule app scenario's side "
                                                       "effect writes it)")

Server = tuple[str, str, int, str, bool]  # label, host, port, TLS server name, PostgreSQL (SSLRequest first)


def record(name: str) -> Path:
    assert RECORD is not None
    return RECORD / name


def servers() -> list[Server]:
    """Every TLS endpoint of the context: Redis, PostgreSQL, each app's nginx."""
    found: list[Server] = []
    for store in CONTEXT.get("redis", []):
        found.append((f"redis {store['name']}", str(store["host"]), int(store["port"]), str(store["host"]), False))
    for store in CONTEXT.get("postgresql", []):
        found.append((f"postgresql {store['name']}", str(store["host"]), int(store["port"]), str(store["host"]),
                      True))
    for app in CONTEXT.get("apps", []):
        host, _, port = app["url"].split("://", 1)[1].rstrip("/").rpartition(":")
        found.append((f"nginx {app['name']}:{app['app']}", host, int(port), str(app["server_name"]), False))
    return found


def _domain(server: Server) -> str:
    """The server's trust domain (session_pki README "Trust domains"): redis for Redis, else kit."""
    return "redis" if server[0].startswith("redis ") else "kit"


def bundle(domain: str = "kit") -> str:
    """The control node's trust bundle of a trust domain, as its stores' and apps' client views name it."""
    keys = ("redis",) if domain == "redis" else ("postgresql", "apps")
    paths = {str(e["ca_cert_local"]) for key in keys for e in CONTEXT.get(key, [])}
    assert len(paths) == 1, f"the {domain} client views name several CA files: {paths}"
    return paths.pop()


def old_ca(domain: str = "kit") -> Path:
    """The domain's CA before the rollover (kept aside by the side effect)."""
    return record("old-redis-ca.crt" if domain == "redis" else "old-ca.crt")


def certificates(path: str | Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def peer_certificate(server: Server) -> x509.Certificate:
    """The certificate the server presents (fetched without verification, checked by the caller)."""
    _, host, port, name, postgres = server
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw:
        if postgres:
            raw.sendall(SSL_REQUEST)
            assert raw.recv(1) == b"S", "PostgreSQL declined the SSLRequest"
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der, f"{server[0]} presented no certificate"
    return x509.load_der_x509_certificate(der)


def verifies(server: Server, cafile: str | Path) -> bool:
    """Whether a client trusting `cafile` alone completes a verifying TLS handshake with the server.

    Without a client certificate a store that wants one may end the session
    after the handshake: the handshake completed (a version was negotiated),
    so the server's certificate verified.
    """
    _, host, port, name, postgres = server
    ctx = client_context(str(cafile))
    if postgres:
        store = next(s for s in CONTEXT["postgresql"] if int(s["port"]) == port and str(s["host"]) == host)
        result = pg_handshake(dict(store), ctx, name)
    else:
        result = handshake(host, port, name, ctx)
    return result.ok or result.version is not None


def test_no_session_request_failed_during_the_ca_rollover() -> None:
    """A loop of session requests through shop and ledger on every app host sees 0 failures during the three
    rollover converges; it read the changing trust bundle again (old + new, then new alone)."""
    figures = json.loads(record("load.json").read_text())
    steps = json.loads(record("steps.json").read_text())
    print(f"\nCA rollover under load: {figures['requests']} requests, {figures['failures']} failures, "
          f"{figures['seconds']} s, bundle re-read {figures['ca_reloads']} times; steps: {steps}")
    assert figures["failures"] == 0, figures["errors"]
    assert len(figures["per_url"]) >= 4, figures["per_url"]
    assert all(u["requests"] >= 20 for u in figures["per_url"].values()), figures["per_url"]
    assert figures["ca_reloads"] >= 2, "the loop never saw the trust bundle change"


def test_the_loops_sessions_survived() -> None:
    """Each URL's session is the one the loop started: its count equals the requests sent (never a new one)."""
    figures = json.loads(record("load.json").read_text())
    for url, counts in figures["per_url"].items():
        session = figures["sessions"][url]
        assert session is not None, f"{url}: no session"
        assert session["count"] == counts["requests"], (url, session, counts)


@pytest.mark.parametrize("domain", ["kit", "redis"])
def test_the_bundle_holds_the_new_ca_alone(domain: str) -> None:
    """After step drop each trust domain's bundle (control node) is one CA, not the old one."""
    old = certificates(old_ca(domain))
    trusted = certificates(bundle(domain))
    assert len(old) == 1
    assert len(trusted) == 1, [c.subject.rfc4514_string() for c in trusted]
    assert trusted[0] != old[0]
    assert trusted[0].subject != old[0].subject


@pytest.mark.parametrize("server", servers(), ids=lambda s: s[0])
def test_server_presents_a_certificate_of_the_new_ca(server: Server) -> None:
    """Every server's certificate is signed by the new CA; the new bundle verifies it, the old CA does not."""
    domain = _domain(server)
    new_ca = certificates(bundle(domain))[0]
    former = certificates(old_ca(domain))[0]
    cert = peer_certificate(server)
    cert.verify_directly_issued_by(new_ca)
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(former)
    assert verifies(server, bundle(domain)), f"{server[0]}: the new bundle does not verify it"
    assert not verifies(server, old_ca(domain)), f"{server[0]}: the old CA still verifies it"


def test_old_ca_client_certificate_is_refused_by_redis(client_cert: tuple[str, str] | None) -> None:
    """Redis (tls-auth-clients) refuses a client certificate of the old CA and accepts one of the new."""
    stores = CONTEXT.get("redis", [])
    assert stores, "no Redis store in the verification context"
    old = (str(record("old-redis-client.crt")), str(record("old-redis-client.key")))
    assert client_cert, "no client certificate of the suite (new CA)"
    for store in stores:
        host, port = str(store["host"]), int(store["port"])
        assert str(store["tls_auth_clients"]) in ("yes", "optional"), "the store does not check client certificates"
        refused = handshake(host, port, host, client_context(bundle("redis"), cert=old))
        assert not refused.ok, f"{store['name']} accepted a client certificate of the old CA"
        assert handshake(host, port, host, client_context(bundle("redis"), cert=client_cert)).ok


def test_old_ca_client_certificate_is_refused_by_postgresql() -> None:
    """PostgreSQL (clientcert=verify-full) refuses ledger's certificate from the old CA, accepts the new one."""
    stores = CONTEXT.get("postgresql", [])
    assert stores, "no PostgreSQL store in the verification context"
    for store in stores:
        assert str(store["clientcert"]) != "none", "the store does not check client certificates"
        with connect(store) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="(?i)certificate|unknown ca"):
            connect(store, sslcert=str(record("old-client.crt")), sslkey=str(record("old-client.key"))).close()


def _processes(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        label, _, rest = line.partition(" ")
        assert rest != "missing", f"{label}: no such process"
        assert re.fullmatch(r"[0-9]+ .+", rest), line
        found[label] = rest
    return found


def test_no_server_was_restarted() -> None:
    """redis-server, the postmaster, nginx' and PHP-FPM's masters keep their process id and start time."""
    files = sorted(record(".").glob("*.procs.json"))
    assert len(files) >= 4, files
    labels: set[str] = set()
    for path in files:
        seen: dict[str, Any] = json.loads(path.read_text())
        before, after = _processes(seen["before"]), _processes(seen["after"])
        assert before and before == after, f"{path.stem}: {before} -> {after}"
        labels |= before.keys()
    assert labels == {"redis", "postgres", "nginx", "php-fpm"}, labels
