"""PHP session apps: HTTPS as nginx serves it.

The TLS profile, handshakes refused for names no app serves, the security
headers the inventory sets, and no probe where it is disabled.
"""

from __future__ import annotations

import ssl

import pytest
from app_client import App, request, session_cookie
from conftest import app_id
from tlsprobe import client_context, handshake

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
        pytest.skip(f"probe enabled on {app_id(php_app)}: the probe-based checks use it")
    for method, path in (("GET", "/probe/session"), ("POST", "/probe/login")):
        response = request(php_app, method, path, status=404)
        assert session_cookie(php_app, response) is None, f"{method} {path} started a session"

