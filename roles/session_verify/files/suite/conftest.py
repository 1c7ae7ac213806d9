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
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
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


def redact(text: str) -> str:
    """The text with every secret of the context replaced by <redacted>."""
    for secret in SECRETS:
        text = text.replace(secret, REDACTED)
    return text


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run store tests once per store of the inventory (skip when none)."""
    # (test_app.py parametrizes its own php_app fixture: several apps per host.)
    for fixture, key in (("redis_store", "redis"), ("pg_store", "postgresql")):
        if fixture in metafunc.fixturenames:
            entries = CONTEXT.get(key, [])
            if entries:
                metafunc.parametrize(fixture, entries, ids=_ids(entries), scope="module")
            else:
                metafunc.parametrize(
                    fixture,
                    [pytest.param(None, marks=pytest.mark.skip(reason=f"no {key} hosts in the inventory"))],
                )


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


@pytest.fixture(scope="session")
def client_cert() -> tuple[str, str] | None:
    cert = CONTEXT.get("client_cert") or {}
    if cert.get("cert") and Path(cert["cert"]).exists():
        return str(cert["cert"]), str(cert["key"])
    return None


@pytest.fixture(scope="session")
def ansible_log() -> str | None:
    """Text of the Ansible log of this run (molecule sets ANSIBLE_LOG_PATH)."""
    path = os.environ.get("ANSIBLE_LOG_PATH")
    if path and Path(path).exists():
        return Path(path).read_text(errors="replace")
    return None
