"""PHP apps on one host: one app's code cannot read another app's session config through the shared OPcache.

Every pool of an app host runs under one PHP-FPM master, so they share one
OPcache. An app's session config (password inside) is 0640 root:<app> in a
0750 directory: `cat` as another app's user is refused, but without
opcache.validate_permission a script of app A that includes app B's config
while B serves requests (B's pool keeps it compiled in the cache) got B's
array back. The suite drops a test-only script into A's document root (and
removes it), hammers B from a thread and asks A's script to include B's
config in a loop: it must never get an array, while A's own config, included
by the same loop, always does (the control). Only counts leave the host,
never a config's contents.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from app_client import App, request
from conftest import CONTEXT, host_for

SECONDS = 4

# The test-only script (placeholders: the other app's config path, the seconds to loop).
SCRIPT = r"""<?php
$own = (string) getenv('SESSION_APP_CONFIG');
$other = %(other)s;
$deadline = microtime(true) + %(seconds)d;
$tries = $ownArrays = $otherArrays = 0;
while (microtime(true) < $deadline) {
    $tries++;
    if (is_array(@include $own)) {
        $ownArrays++;
    }
    if (is_array(@include $other)) {
        $otherArrays++;
    }
    usleep(2000);
}
header('Content-Type: application/json');
echo json_encode(['tries' => $tries, 'own' => $ownArrays, 'other' => $otherArrays]), "\n";
"""


def _pairs() -> list[tuple[App, App]]:
    """Per app host: (A, B), two apps with the probe under different users; B a store app when there is one."""
    by_host: dict[str, list[App]] = defaultdict(list)
    for app in CONTEXT.get("apps", []):
        if app["probe"]:
            by_host[str(app["name"])].append(app)
    pairs = []
    for apps in by_host.values():
        victims = sorted(apps, key=lambda a: a["store"] == "files")
        for victim in victims:
            attacker = next((a for a in apps if a["user"] != victim["user"]), None)
            if attacker is not None:
                pairs.append((attacker, victim))
                break
    return pairs


PAIRS = _pairs()


def _php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.mark.parametrize("pair", PAIRS or [pytest.param(None, marks=pytest.mark.skip(reason="no host with two apps"))],
                         ids=[f"{a['name']}:{a['app']}->{b['app']}" for a, b in PAIRS] or None)
def test_app_cannot_include_another_apps_config_while_it_is_busy(pair: tuple[App, App] | None) -> None:
    assert pair is not None
    attacker, victim = pair
    host = host_for(attacker["name"])
    # Precondition of the attack: the file system refuses A's user.
    assert host.run("runuser -u %s -- cat %s", attacker["user"], victim["config_file"]).rc != 0, \
        f"{attacker['user']} reads {victim['config_file']} directly"
    name = f"kit-opcache-{secrets.token_hex(8)}.php"
    path = f"{attacker['docroot'].rstrip('/')}/{name}"
    script = SCRIPT % {"other": _php_string(victim["config_file"]), "seconds": SECONDS}
    stop = threading.Event()
    served: list[int] = []

    def busy_victim() -> None:
        # The probe loads the app's config on every request; POST /probe/session is a 404 that
        # creates no session.
        while not stop.is_set():
            served.append(request(victim, "POST", "/probe/session", status=None).status_code)

    created = host.run("printf '%%s' %s > %s && chmod 0644 %s", script, path, path)
    assert created.rc == 0, created.stderr
    thread = threading.Thread(target=busy_victim, daemon=True)
    try:
        thread.start()
        time.sleep(1)  # the victim's config is compiled and cached by now
        result: dict[str, Any] = request(attacker, "GET", f"/{name}").json()
    finally:
        stop.set()
        thread.join(timeout=30)
        host.run("rm -f %s", path)
    assert not host.file(path).exists
    assert served and set(served) == {404}, f"the victim did not serve its probe: {sorted(set(served))}"
    assert result["tries"] > 0 and result["own"] == result["tries"], \
        f"control: {attacker['app']} could not include its own config every time: {result}"
    assert result["other"] == 0, (
        f"{attacker['app']} got {victim['app']}'s session config (password included) {result['other']} times "
        f"of {result['tries']} through the shared OPcache")
