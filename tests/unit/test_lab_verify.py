"""Issue 21: the lab and the HA scenarios verify with the primary off the first member, and a failed
verification still leaves the lab's endpoints and summary behind.

- playbooks/lab.yml runs site.yml with session_verify_move_primaries (a switchover before the suite)
  and session_verify_fail: false, then writes lab/endpoints.json and lab/summary.txt, and only then
  fails with "NOT VERIFIED: N controls failed (names)";
- the HA scenarios switch over before their suite too;
- session_verify hands the suite the calling play's Ansible configuration and collections path;
- the suite's store checks go to the member that takes writes now, never to the view's first host.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "session_verify"
SUITE = ROLE / "files" / "suite"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_lab_verifies_off_the_first_member_and_does_not_stop_at_a_failed_control() -> None:
    lab = _load(ROOT / "playbooks" / "lab.yml")
    kit = next(p for p in lab if p.get("ansible.builtin.import_playbook") == "site.yml")
    assert kit["vars"]["session_verify_move_primaries"] is True
    assert kit["vars"]["session_verify_fail"] is False


def test_lab_writes_endpoints_and_summary_before_it_fails_as_not_verified() -> None:
    lab = _load(ROOT / "playbooks" / "lab.yml")
    summary = lab[-1]
    tasks = summary["tasks"]
    dests = [t["ansible.builtin.template"]["dest"] for t in tasks if "ansible.builtin.template" in t]
    assert any(d.endswith("/endpoints.json") for d in dests) and any(d.endswith("/summary.txt") for d in dests)
    last = tasks[-1]
    assert "ansible.builtin.fail" in last and "NOT VERIFIED" in last["ansible.builtin.fail"]["msg"]
    assert "session_verify_result" in str(last["when"])
    positions = [i for i, t in enumerate(tasks) if "ansible.builtin.template" in t]
    assert max(positions) < len(tasks) - 1


def _summary(result: dict[str, Any] | None) -> str:
    endpoints = {"redis": {"container": "lab-redis", "host": "127.0.0.1", "port": 1, "app_password_file": "p",
                           "ca_cert": "ca", "app_user": "u"}, "apps": {}}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    env.filters["from_json"] = json.loads
    template = env.from_string((ROOT / "templates" / "lab-summary.txt.j2").read_text())
    values: dict[str, Any] = {"kit_lab_dir": "/lab", "session_pki_ca_dir": "/pki", "kit_secrets_dir": "/s",
                              "lookup": lambda kind, path: json.dumps(endpoints)}
    if result is not None:
        values["session_verify_result"] = result
    return template.render(**values)


def test_summary_says_not_verified_with_the_failed_controls() -> None:
    text = _summary({"rc": 1, "failed": ["test_a[x]", "test_b[y]"], "summary": "2 failed"})
    assert text.splitlines()[0] == "NOT VERIFIED: 2 controls failed (test_a[x], test_b[y]); pytest exit 1."
    assert "rediss://127.0.0.1:1" in text
    assert _summary({"rc": 0, "failed": [], "summary": "9 passed"}).startswith("Lab is up and verified.")
    assert _summary(None).startswith("Lab is up and verified.")


def test_ha_scenarios_switch_over_before_the_suite() -> None:
    for scenario in ("redis-ha", "postgresql-ha"):
        config = _load(ROOT / "molecule" / scenario / "molecule.yml")
        assert config["provisioner"]["inventory"]["group_vars"]["all"]["session_verify_move_primaries"] is True


def test_the_suite_gets_the_plays_configuration_and_collections() -> None:
    env = _load(ROLE / "vars" / "main.yml")["_session_verify_env"]
    assert "'ANSIBLE_CONFIG': ansible_config_file" in env
    assert "lookup('ansible.builtin.config', 'COLLECTIONS_PATHS')" in env
    tasks = _load(ROLE / "tasks" / "main.yml")
    block = next(t for t in tasks if "block" in t)["block"]
    commands = [t for t in block if "ansible.builtin.command" in t and "pytest" in str(t)]
    assert commands and all(t["environment"] == "{{ _session_verify_env }}" for t in commands)


def test_the_verification_result_is_recorded_and_failing_is_optional() -> None:
    block = next(t for t in _load(ROLE / "tasks" / "main.yml") if "block" in t)["block"]
    record = next(t for t in block if t["name"] == "Publish the verification result")
    pattern = re.search(r"'regex_replace', '(.+?)', '(.+?)'\)", record["vars"]["_failed"])
    assert pattern
    regex = pattern.group(1).replace("\\\\", "\\")
    line = "FAILED test_app_store.py::test_store_connections_are_reused[lab-app:labpg] - AssertionError: no"
    assert re.sub(regex, pattern.group(2).replace("\\\\", "\\"), line) == \
        "test_store_connections_are_reused[lab-app:labpg]"
    fail = next(t for t in block if t["name"] == "Fail when a control failed")
    assert fail["when"] == "session_verify_fail | bool"


def test_app_store_checks_go_to_the_primary_found_at_run_time() -> None:
    """store_of() finds the writer (libpq read-write, Sentinel); store_host alone is only a member."""
    source = (SUITE / "app_client.py").read_text()
    body = source[source.index("def store_of("):source.index("PROBE_KEY")]
    assert "writer_of(" in body and "settled(" in body
    assert "target_session_attrs=\"read-write\"" in (SUITE / "pg_client.py").read_text()
    for path in sorted(SUITE.glob("*.py")):
        text = path.read_text()
        assert not re.search(r"\bstore_host\b", text) or path.name == "app_client.py", path.name


def test_lab_templates_parse() -> None:
    """A syntax error in endpoints.json.j2 only showed after a whole lab run (an if-expression in an if tag)."""
    env = jinja2.Environment()
    for name in ("endpoints.json.j2", "lab-summary.txt.j2"):
        env.parse((ROOT / "templates" / name).read_text())
