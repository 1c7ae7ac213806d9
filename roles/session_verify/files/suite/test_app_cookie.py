"""PHP session apps: the session cookie and the response headers, proven over real HTTPS.

The suite is the browser: it asks each app's live probe for a session through
nginx (by the app's server name, with the kit's CA) and reads the raw
Set-Cookie and Cache-Control headers. The probe is a verification instrument
an inventory may leave off (php_session_app_probe_enabled: false, the
default): the checks that need it are then skipped with the reason "probe
disabled", never failed (see app_client).
"""

from __future__ import annotations

import pytest
from app_client import App, framework, needs_probe, reply, request, session_cookie, set_cookies

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

