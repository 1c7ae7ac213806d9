"""The variables reference in every role README matches its argument specs."""

from __future__ import annotations

from pathlib import Path

import role_docs
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_every_role_has_argument_specs_and_readme() -> None:
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
    documented = [p.name for p in role_docs.role_dirs(ROOT)]
    assert roles == documented
    for role in roles:
        assert (ROOT / "roles" / role / "README.md").exists(), role


def test_readmes_are_in_sync_with_specs() -> None:
    assert role_docs.main(["--check", "--root", str(ROOT)]) == 0


def test_every_default_is_specified() -> None:
    """Each variable in defaults/main.yml appears in the main entry point's spec."""
    for role in role_docs.role_dirs(ROOT):
        defaults_file = role / "defaults/main.yml"
        if not defaults_file.exists():
            continue
        defaults = yaml.safe_load(defaults_file.read_text()) or {}
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
        options = specs["argument_specs"]["main"].get("options", {})
        missing = sorted(set(defaults) - set(options))
        assert not missing, f"{role.name}: defaults without spec: {missing}"


def test_render_marks_required_and_choices() -> None:
    block = role_docs.render({"argument_specs": {"main": {"options": {
        "x_mode": {"type": "str", "choices": ["a", "b"], "default": "a", "description": "Mode."},
        "x_secret": {"type": "str", "required": True, "description": "Secret."},
    }}}})
    assert "| `x_mode` | str |  | `a` | Mode. Choices: `a`, `b` |" in block
    assert "| `x_secret` | str | yes |  | Secret. |" in block


def test_update_replaces_only_the_generated_block() -> None:
    readme = f"# r\n\nprose\n\n{role_docs.BEGIN}\nold\n{role_docs.END}\n\nmore prose\n"
    out = role_docs.update(readme, f"{role_docs.BEGIN}\nnew\n{role_docs.END}")
    assert out == f"# r\n\nprose\n\n{role_docs.BEGIN}\nnew\n{role_docs.END}\n\nmore prose\n"


def test_render_lists_entry_point_descriptions() -> None:
    """An entry point's description is rendered (the client entry points document their facts there)."""
    block = role_docs.render({"argument_specs": {"main": {"options": {}}, "client": {
        "short_description": "Publish x_client.", "description": ["The fact x_client.", "C(host) - the  address."],
        "options": {}}}})
    assert "Publish x_client.\n\n- The fact x_client.\n- `host` - the address.\n" in block


def test_every_alert_group_belongs_to_a_role() -> None:
    """Each rule group of monitoring/session-kit.rules.yml is documented in an existing role's README."""
    rules = yaml.safe_load((ROOT / role_docs.RULES).read_text())
    groups = [group["name"] for group in rules["groups"]]
    assert sorted(groups) == sorted(role_docs.ALERT_GROUPS)
    roles = {p.name for p in role_docs.role_dirs(ROOT)}
    for group, role in role_docs.ALERT_GROUPS.items():
        assert role in roles, group
        readme = (ROOT / "roles" / role / "README.md").read_text()
        for rule in next(g for g in rules["groups"] if g["name"] == group)["rules"]:
            assert f"| `{rule['alert']}` |" in readme, (role, rule["alert"])


def test_render_alerts_lists_meaning_and_first_action() -> None:
    rules = {"groups": [{"name": "session-kit-redis", "rules": [
        {"alert": "X", "expr": "up == 0", "for": "1m", "labels": {"severity": "critical"},
         "annotations": {"summary": "s", "description": "It | broke.", "action": "Fix\n it."}}]}]}
    block = role_docs.render_alerts(rules, "redis_session_store")
    assert block is not None
    assert "| `X` | critical | It \\| broke. (for 1m) | Fix it. |" in block
    assert role_docs.render_alerts(rules, "session_pki") is None


def test_update_alerts_goes_before_the_variables_and_replaces_itself() -> None:
    readme = f"# r\n\nprose\n\n## Variables\n\n{role_docs.BEGIN}\nv\n{role_docs.END}\n"
    once = role_docs.update_alerts(readme, f"{role_docs.ALERTS_BEGIN}\na\n{role_docs.ALERTS_END}")
    assert once.index("## Alerts") < once.index("## Variables")
    twice = role_docs.update_alerts(once, f"{role_docs.ALERTS_BEGIN}\nb\n{role_docs.ALERTS_END}")
    assert "\nb\n" in twice and "\na\n" not in twice and twice.count("## Alerts") == 1
    assert role_docs.update_alerts(readme, None) == readme
