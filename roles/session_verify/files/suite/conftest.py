"""Shared fixtures of the client-side verification suite.

The suite runs on the control node. `roles/session_verify` writes the
connection details of every store and app host (secrets included) into a
0600 JSON file and points KIT_VERIFY_CONTEXT at it. Tests talk to the
services exactly as a client would, and inspect hosts through testinfra over
the inventory's own connection (SSH, docker, ...).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redaction
import testinfra
from redis.backoff import NoBackoff
from redis.retry import Retry

Context = dict[str, Any]


def _load_context() -> Context:
    path = os.environ.get("KIT_VERIFY_CONTEXT")
    if not path:
        return {"redis": [], "postgresql": [], "apps": [], "inventory": []}
    return dict(json.loads(Path(path).read_text()))


CONTEXT: Context = _load_context()

REDACTED = "<redacted>"
SECRET_ENV = "KIT_SUITE_SECRET"


def _secrets(node: Any) -> Iterator[str]:
    """Every password-like value of the context (keys ending in "password")."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and str(key).endswith("password") and value:
                yield value
            else:
                yield from _secrets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secrets(value)


SECRETS: list[str] = sorted(set(_secrets(CONTEXT)), key=len, reverse=True)
# Every form a secret may take in a failure message: percent-encoded, JSON-, PHP- or
# repr-escaped, base64, hex (redaction.py).
SECRET_FORMS: list[str] = redaction.all_forms(SECRETS)


def redact(text: str) -> str:
    """The text with every secret of the context, in any of its encoded forms, replaced by <redacted>."""
    return redaction.redact(text, SECRET_FORMS)


# Families of suite files by name, one marker each: a scenario that verifies part of the kit
# leaves a family out with -m (session_verify_pytest_args: ["-m", "not app and not redis_node"]).
FAMILIES: dict[str, str] = {
    "redis_node": "single-node Redis files (test_redis_*.py but test_redis_ha_*)",
    "postgresql_node": "single-node PostgreSQL files (test_postgresql_*.py but test_postgresql_ha_*)",
    "app": "the apps and Phalcon (test_app_*.py but test_app_postgresql*, test_phalcon.py)",
    "app_postgresql": "the PostgreSQL apps (test_app_postgresql*.py)",
}


def family(filename: str) -> str | None:
    """The family (marker) of a suite file, by its name; None for the files every scenario runs."""
    for prefix, name in (("test_redis_ha_", None), ("test_redis_", "redis_node"), ("test_postgresql_ha_", None),
                         ("test_postgresql_", "postgresql_node"), ("test_app_postgresql", "app_postgresql"),
                         ("test_app_", "app"), ("test_phalcon", "app")):
        if filename.startswith(prefix):
            return name
    return None


def pytest_configure(config: pytest.Config) -> None:
    for name, what in FAMILIES.items():
        config.addinivalue_line("markers", f"{name}: {what}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its file's family before -m selects (tryfirst: before pytest's own hook)."""
    for item in items:
        name = family(item.path.name)
        if name:
            item.add_marker(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Failure reports never carry a secret (pytest prints assertion operands and commands)."""
    report = yield
    if report.longrepr is not None and SECRETS:
        text = str(report.longrepr)
        if redact(text) != text:
            report.longrepr = redact(text)
    report.sections = [(title, redact(content)) for title, content in report.sections]
    return report


def files_containing(host: Any, secret: str, paths: list[str]) -> list[str]:
    """Files under `paths` on `host` that contain `secret`.

    The secret never appears on a command line (ps, sudo logs) on either
    side: the Ansible ad-hoc call reads it from this process' environment
    and the host's grep reads it from stdin (-f -).
    """
    assert secret, "an empty pattern would match every file"
    os.environ[SECRET_ENV] = secret
    try:
        args = {"argv": ["grep", "-rlF", "-f", "-", "--", *paths],
                "stdin": "{{ lookup('ansible.builtin.env', '" + SECRET_ENV + "') }}"}
        result = host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True)
    finally:
        del os.environ[SECRET_ENV]
    if result.get("rc") not in (0, 1):
        raise AssertionError(redact(f"grep failed: {result.get('stderr') or result.get('msg')}"))
    return sorted(str(line) for line in result.get("stdout_lines", []))


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e["name"]) for e in entries]


def app_id(entry: dict[str, Any]) -> str:
    """host:app, the apps' test id."""
    return f"{entry['name']}:{entry['app']}"


def _redis_ha_groups() -> dict[str, list[dict[str, Any]]]:
    """Each Redis HA group of the context: its name -> its nodes."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for store in CONTEXT.get("redis", []):
        if store.get("ha"):
            groups[str(store["ha_group"])].append(store)
    return dict(groups)


REDIS_HA_GROUPS = _redis_ha_groups()
REDIS_HA_NODES = [store for members in REDIS_HA_GROUPS.values() for store in members]
PG_HA_STORES: list[Any] = [s for s in CONTEXT.get("postgresql", []) if s.get("ha")]
_NO_REDIS_HA = "no Redis HA group in the inventory (redis_session_store_ha)"
PHALCON_APPS = [e for e in CONTEXT.get("apps", []) if e.get("phalcon", "pecl") != "none"]

# A test that takes one of these fixtures runs once per value (module scope), named by its id;
# without values it is skipped with the reason.
PARAMETERS: dict[str, tuple[list[Any], list[str], str]] = {
    "redis_store": (CONTEXT.get("redis", []), _ids(CONTEXT.get("redis", [])), "no redis hosts in the inventory"),
    "pg_store": (CONTEXT.get("postgresql", []), _ids(CONTEXT.get("postgresql", [])),
                 "no postgresql hosts in the inventory"),
    # The test_app_* files: several apps per host, named host:app.
    "php_app": (CONTEXT.get("apps", []), [app_id(e) for e in CONTEXT.get("apps", [])], "no apps"),
    # test_phalcon.py: the apps of hosts where the role installs Phalcon (its default, pecl, when the
    # view does not say).
    "phalcon_app": (PHALCON_APPS, [app_id(e) for e in PHALCON_APPS], "no app host with Phalcon"),
    # The test_redis_ha_* files: every node of every HA group; each group.
    "ha_node": (REDIS_HA_NODES, _ids(REDIS_HA_NODES), _NO_REDIS_HA),
    "ha_group": (list(REDIS_HA_GROUPS.values()), list(REDIS_HA_GROUPS), _NO_REDIS_HA),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run store, app, Phalcon and HA tests once per store, app, node or group of the inventory (skip when none)."""
    for fixture, (values, ids, reason) in PARAMETERS.items():
        if fixture in metafunc.fixturenames:
            if values:
                metafunc.parametrize(fixture, values, ids=ids, scope="module")
            else:
                metafunc.parametrize(fixture, [pytest.param(None, marks=pytest.mark.skip(reason=reason))])


@pytest.fixture(scope="module", params=PG_HA_STORES[:1] or [None], ids=lambda s: str(s["ha_scope"]) if s else "none")
def cluster(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The members of the (first) PostgreSQL HA cluster (the test_postgresql_ha_* files)."""
    # Imported here: pg_client imports this module.
    from pg_client import members_of

    return members_of(request.param)


@pytest.fixture(scope="session")
def context() -> Context:
    return CONTEXT


def no_retry() -> Retry:
    """For redis clients of the suite: redis-py retries connection and
    authentication errors with backoff by default; a refusal must be seen at
    once (and costs no seconds of backoff)."""
    return Retry(NoBackoff(), 0)


def scenario_record(name: str, marker: str) -> Path | None:
    """MOLECULE_EPHEMERAL_DIRECTORY/NAME when a scenario's side effect wrote MARKER in it, else None
    (the day-2 tests skip on any other inventory)."""
    eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    path = Path(eph) / name if eph else None
    return path if path is not None and (path / marker).is_file() else None


def host_for(name: str) -> Any:
    """A testinfra host reached over the inventory's own connection."""
    inventories = CONTEXT.get("inventory") or []
    spec = f"ansible://{name}"
    if inventories:
        spec += f"?ansible_inventory={inventories[0]}"
    return testinfra.get_host(spec)


def suite_client_cert() -> tuple[str, str] | None:
    """The suite's mTLS client certificate and key (None: the context has none)."""
    cert = CONTEXT.get("client_cert") or {}
    if cert.get("cert") and Path(cert["cert"]).exists():
        return str(cert["cert"]), str(cert["key"])
    return None


@pytest.fixture(scope="session")
def client_cert() -> tuple[str, str] | None:
    return suite_client_cert()


@pytest.fixture(scope="session")
def ansible_log() -> str | None:
    """Text of the Ansible log of this run (molecule sets ANSIBLE_LOG_PATH)."""
    path = os.environ.get("ANSIBLE_LOG_PATH")
    if path and Path(path).exists():
        return Path(path).read_text(errors="replace")
    return None
