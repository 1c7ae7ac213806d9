"""The ``*_client`` facts each role publishes are documented, key by key, in its ``client`` entry point.

Argument specs have no output schema: the ``client`` entry point's description
lists every key of the fact as a line ``C(key) - what it holds`` (nested keys
as ``C(apps[].key)``), and scripts/role_docs.py renders it into the role
README. The keys published are read from the role's tasks/client.yml
(``set_fact``) and, where a filter builds the value, from the dict literal the
filter returns.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = re.compile(r"\AC\(([\w.\[\]]+)\) - \S")


def documented(role: str) -> list[str]:
    """The keys the client entry point's description names, in order."""
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    lines = specs["argument_specs"]["client"].get("description") or []
    return [m[1] for line in lines if (m := DOCUMENTED.match(" ".join(str(line).split())))]


def set_facts(role: str, fact: str) -> list[dict[str, Any]]:
    """The tasks of client.yml that set ``fact``."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks/client.yml").read_text())
    return [task for task in tasks if fact in (task.get("ansible.builtin.set_fact") or {})]


def returned_keys(plugin: str, function: str) -> set[str]:
    """Keys of the largest dict literal (string keys only) in a filter plugin's function."""
    tree = ast.parse((ROOT / "plugins/filter" / f"{plugin}.py").read_text())
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    dicts: list[set[str]] = [{k.value for k in n.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                             for n in ast.walk(func) if isinstance(n, ast.Dict)]
    return max(dicts, key=len)


def published(role: str) -> set[str]:
    """Every key the role's client fact holds (nested list entries as ``list[].key``)."""
    if role == "redis_session_store":
        (task,) = set_facts(role, "redis_session_store_client")
        return set(task["ansible.builtin.set_fact"]["redis_session_store_client"])
    if role == "postgresql_session_store":
        (task,) = set_facts(role, "postgresql_session_store_client")
        view = task["ansible.builtin.set_fact"]["postgresql_session_store_client"]
        # The list entries come from filters (their dict literals below).
        assert view["apps"] == "{{ _apps }}" and "postgresql_session_store_client_apps" in task["vars"]["_apps"]
        assert view["nodes"] == "{{ _nodes }}" and "postgresql_session_store_node" in task["vars"]["_nodes"]
        return (set(view)
                | {f"apps[].{k}" for k in returned_keys("postgresql_session_store", "client_apps")}
                | {f"nodes[].{k}" for k in returned_keys("postgresql_session_store", "node")})
    if role == "php_session_app":
        built, combined = (task["ansible.builtin.set_fact"]["php_session_app_client"]
                           for task in set_facts(role, "php_session_app_client"))
        assert "php_session_app_client_view" in built
        # The second task adds keys to every entry: map('combine', {'key': ..., ...}).
        added = re.search(r"combine', \{(.*?)\}\)", combined, re.S)
        assert added, combined
        return returned_keys("php_session_app", "client_view") | set(re.findall(r"'(\w+)':", added[1]))
    raise AssertionError(role)


def mismatch(documented_keys: list[str], published_keys: set[str]) -> dict[str, list[str]]:
    """Keys published but not documented, documented but not published, and documented twice."""
    return {key: value for key, value in {
        "undocumented": sorted(published_keys - set(documented_keys)),
        "not published": sorted(set(documented_keys) - published_keys),
        "documented twice": sorted({k for k in documented_keys if documented_keys.count(k) > 1}),
    }.items() if value}


ROLES = ["redis_session_store", "postgresql_session_store", "php_session_app"]


@pytest.mark.parametrize("role", ROLES)
def test_every_published_key_is_documented(role: str) -> None:
    keys = published(role)
    assert len(keys) >= 25, sorted(keys)
    assert mismatch(documented(role), keys) == {}


@pytest.mark.parametrize("role", ROLES)
def test_the_readme_shows_the_documented_keys(role: str) -> None:
    """scripts/role_docs.py renders the entry point's description (test_role_docs keeps it in sync)."""
    readme = (ROOT / "roles" / role / "README.md").read_text()
    client = readme.split("### Entry point `client`", 1)[1]
    assert documented(role)
    assert all(f"- `{key}` - " in client for key in documented(role))


def test_a_mismatch_is_reported() -> None:
    assert mismatch(["host", "port"], {"host", "port"}) == {}
    assert mismatch(["host"], {"host", "port"}) == {"undocumented": ["port"]}
    assert mismatch(["host", "port", "port"], {"host"}) == {"not published": ["port"], "documented twice": ["port"]}
    assert DOCUMENTED.match("C(apps[].name) - the login role") and not DOCUMENTED.match("The fact x has keys.")
