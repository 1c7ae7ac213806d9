"""Every playbook escalates privileges and gathers facts the same way.

The rule: a play on managed hosts says ``become: true`` (the roles write
root-owned files; their control-node tasks say ``become: false``) and states
``gather_facts``; when it gathers, it names a subset of ``[min, network,
virtual]`` (never every fact). A play on the control node (``hosts:
localhost``) runs with ``connection: local``, never ``become: true``. The
example inventories leave ``ansible_become`` unset: an inventory variable
overrides every task's ``become: false``, so the control-node tasks (the CA,
certificates, the suite) would run under sudo.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
SUBSET = {"min", "network", "virtual"}


def plays(path: Path) -> list[dict[str, Any]]:
    """The plays of a playbook (imports of other playbooks left out)."""
    return [play for play in yaml.safe_load(path.read_text()) if "import_playbook" not in play
            and "ansible.builtin.import_playbook" not in play]


def breaches(play: dict[str, Any]) -> list[str]:
    """What a play does against the rule (empty: it follows it)."""
    found = []
    if play["hosts"] == "localhost":
        if play.get("connection") != "local":
            found.append("a control-node play without connection: local")
        if play.get("become") is True:
            found.append("become: true on the control node")
        return found
    if play.get("become") is not True:
        found.append("a managed-host play without become: true")
    if "gather_facts" not in play:
        found.append("gather_facts not stated")
    elif play["gather_facts"]:
        subset = play.get("gather_subset")
        if not isinstance(subset, list) or "min" not in subset or not set(subset) <= SUBSET:
            found.append(f"gather_subset {subset!r}: a list with min, within {sorted(SUBSET)}")
    return found


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_every_play_follows_the_rule(path: Path) -> None:
    offenders = {play["name"]: breaches(play) for play in plays(path) if breaches(play)}
    assert offenders == {}


def test_the_rule_catches_what_it_names() -> None:
    """The check itself refuses each breach (a rule that cannot fail proves nothing)."""
    host = {"name": "p", "hosts": "stores", "become": True, "gather_facts": True, "gather_subset": ["min"]}
    assert breaches(host) == []
    assert breaches({**host, "become": False}) == ["a managed-host play without become: true"]
    assert breaches({k: v for k, v in host.items() if k != "gather_facts"}) == ["gather_facts not stated"]
    assert len(breaches({k: v for k, v in host.items() if k != "gather_subset"})) == 1
    assert len(breaches({**host, "gather_subset": ["min", "hardware"]})) == 1
    assert breaches({**host, "gather_facts": False, "gather_subset": None}) == []
    local = {"name": "l", "hosts": "localhost", "connection": "local"}
    assert breaches(local) == []
    assert breaches({**local, "become": True}) == ["become: true on the control node"]
    assert breaches({"name": "l", "hosts": "localhost"}) == ["a control-node play without connection: local"]


def test_every_playbook_has_plays_on_both_sides() -> None:
    """The parametrization above reads real plays (not an empty list)."""
    every = [play for path in PLAYBOOKS for play in plays(path)]
    assert any(play["hosts"] == "localhost" for play in every)
    assert sum(play["hosts"] != "localhost" for play in every) >= 15


@pytest.mark.parametrize("name", ["production", "staging", "lab"])
def test_inventories_leave_become_to_the_playbooks(name: str) -> None:
    files = [p for p in (ROOT / "inventories" / name).rglob("*.yml") if "vault" not in p.name]
    assert files
    setting = re.compile(r"^\s*ansible_become\s*:", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in files if setting.search(p.read_text())]
    assert offenders == []


@functools.cache
def known_variables() -> frozenset[str]:
    """Every variable a role defines: defaults, vars, argument specs and the facts its tasks set."""
    known: set[str] = set()
    for role in (ROOT / "roles").iterdir():
        for path in [*role.glob("defaults/*.yml"), *role.glob("vars/*.yml")]:
            known |= set(yaml.safe_load(path.read_text()) or {})
        specs = role / "meta" / "argument_specs.yml"
        if specs.exists():
            for entry in yaml.safe_load(specs.read_text())["argument_specs"].values():
                known |= set(entry.get("options") or {})
        for path in role.glob("tasks/*.yml"):
            # A set_fact at any depth (tasks in a block too): its keys, two spaces deeper than the module.
            for indent, block in re.findall(r"^( *)(?:ansible\.builtin\.)?set_fact:\n((?:\1  .*\n)+)", path.read_text(),
                                            re.M):
                known |= set(re.findall(rf"^{indent}  (\w+):", block, re.M))
    return frozenset(known)


def unknown_role_variables(text: str, known: frozenset[str]) -> set[str]:
    roles = sorted((p.name for p in (ROOT / "roles").iterdir() if p.is_dir()), key=len, reverse=True)
    named = re.findall(rf"\b(?:{'|'.join(roles)})_\w+", text)
    return set(named) - known


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbooks_name_only_existing_role_variables(path: Path) -> None:
    """A misspelt or removed variable under a default() never fails at run time: it silently takes the default
    (verify.yml tested postgresql_session_store_tls_source, which no role defines)."""
    assert unknown_role_variables(path.read_text(), known_variables()) == set()


def test_an_unknown_role_variable_is_found() -> None:
    known = known_variables()
    assert "session_pki_mode" in known and "redis_session_store_client" in known
    text = "when: (postgresql_session_store_tls_source | default('pki')) == 'pki' and session_pki_mode"
    assert unknown_role_variables(text, known) == {"postgresql_session_store_tls_source"}
