#!/usr/bin/env python3
"""Render each role's variables reference from its meta/argument_specs.yml.

The table lives in the role README between the markers below, so prose and
examples stay hand-written while the reference can never drift from the
specs (tests/unit/test_role_docs.py fails when it does). Likewise the alerts
of monitoring/session-kit.rules.yml: each rule group belongs to one role
(ALERT_GROUPS), whose README lists its alerts, what each means and the first
action, between the alert markers.

    scripts/role_docs.py            # rewrite every role README
    scripts/role_docs.py --check    # exit 1 when a README is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- BEGIN VARIABLES (generated from meta/argument_specs.yml by scripts/role_docs.py) -->"
END = "<!-- END VARIABLES -->"
ALERTS_BEGIN = "<!-- BEGIN ALERTS (generated from monitoring/session-kit.rules.yml by scripts/role_docs.py) -->"
ALERTS_END = "<!-- END ALERTS -->"
RULES = Path("monitoring/session-kit.rules.yml")
# Rule group -> the role whose README documents its alerts.
ALERT_GROUPS = {
    "session-kit-redis": "redis_session_store",
    "session-kit-postgresql": "postgresql_session_store",
    "session-kit-pki": "session_pki",
    "session-kit-php": "php_session_app",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _markup(text: Any) -> str:
    """ansible-doc markup of one description line as Markdown: C(x) becomes `x`."""
    return re.sub(r"\bC\(([^()]*)\)", r"`\1`", " ".join(str(text).split()))


def _describe(spec: dict[str, Any]) -> str:
    description = spec.get("description", "")
    if isinstance(description, list):
        description = " ".join(str(d) for d in description)
    extra = []
    if spec.get("choices"):
        extra.append("Choices: " + ", ".join(f"`{c}`" for c in spec["choices"]))
    if spec.get("options"):
        extra.append("Keys: " + ", ".join(f"`{k}`" for k in spec["options"]))
    return " ".join([str(description).strip(), *extra]).strip()


def render(specs: dict[str, Any]) -> str:
    """Markdown reference of every entry point's options."""
    lines = [BEGIN, ""]
    entries = specs.get("argument_specs", {})
    main_options = (entries.get("main") or {}).get("options")
    for entry, body in entries.items():
        lines.append(f"### Entry point `{entry}`")
        lines.append("")
        if body.get("short_description"):
            lines.append(str(body["short_description"]))
            lines.append("")
        description = body.get("description") or []
        if description:
            # Entry-point descriptions carry what no option can (the client entry points' facts).
            items = description if isinstance(description, list) else [description]
            lines.extend(f"- {_markup(item)}" for item in items)
            lines.append("")
        options = body.get("options") or {}
        if entry != "main" and options and options == main_options:
            lines.append("Same variables as `main`.")
            lines.append("")
            continue
        if not options:
            lines.append("No variables.")
            lines.append("")
            continue
        lines.append("| Variable | Type | Required | Default | Description |")
        lines.append("|---|---|---|---|---|")
        for name, spec in options.items():
            kind = spec.get("type", "str")
            if spec.get("elements"):
                kind += f" of {spec['elements']}"
            required = "yes" if spec.get("required") else ""
            default = "" if spec.get("required") else f"`{_cell(spec.get('default'))}`"
            lines.append(f"| `{name}` | {kind} | {required} | {default} | {_cell(_describe(spec))} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def render_alerts(rules: dict[str, Any], role: str) -> str | None:
    """Markdown table of the alerts of the role's rule groups (None: the role has none)."""
    alerts = [rule for group in rules.get("groups", []) if ALERT_GROUPS.get(group["name"]) == role
              for rule in group["rules"] if "alert" in rule]
    if not alerts:
        return None
    lines = [ALERTS_BEGIN, "",
             "From [monitoring/session-kit.rules.yml](../../monitoring/session-kit.rules.yml) (where the series come "
             "from, the `store` label, loading the rules: [docs/monitoring.md](../../docs/monitoring.md)).", "",
             "| Alert | Severity | Fires when | First action |", "|---|---|---|---|"]
    for rule in alerts:
        notes = rule.get("annotations", {})
        wait = f" (for {rule['for']})" if rule.get("for") else ""
        lines.append(f"| `{rule['alert']}` | {_cell(rule.get('labels', {}).get('severity', ''))} | "
                     f"{_cell(' '.join(str(notes.get('description', '')).split()))}{wait} | "
                     f"{_cell(' '.join(str(notes.get('action', '')).split()))} |")
    lines += ["", ALERTS_END]
    return "\n".join(lines)


def update_alerts(readme: str, block: str | None) -> str:
    """Replace the alerts block (or put it, under "## Alerts", before the variables reference)."""
    if ALERTS_BEGIN in readme and ALERTS_END in readme:
        head, rest = readme.split(ALERTS_BEGIN, 1)
        _, tail = rest.split(ALERTS_END, 1)
        if block is None:
            return head.rstrip("\n").removesuffix("## Alerts").rstrip("\n") + "\n\n" + tail.lstrip("\n")
        return head + block + tail
    if block is None:
        return readme
    section = "## Alerts\n\n" + block + "\n\n"
    if "## Variables" in readme:
        head, tail = readme.split("## Variables", 1)
        return head + section + "## Variables" + tail
    return readme.rstrip("\n") + "\n\n" + section


def update(readme: str, block: str) -> str:
    """Replace the generated block in a README (or append it)."""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + block + tail
    return readme.rstrip("\n") + "\n\n## Variables\n\n" + block + "\n"


def role_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("roles/*/meta/argument_specs.yml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    stale = []
    rules_file = args.root / RULES
    rules = yaml.safe_load(rules_file.read_text()) if rules_file.exists() else {}
    for role in role_dirs(args.root):
        specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
        readme_path = role / "README.md"
        current = readme_path.read_text() if readme_path.exists() else f"# {role.name}\n"
        wanted = update_alerts(update(current, render(specs)), render_alerts(rules, role.name))
        if wanted != current:
            stale.append(role.name)
            if not args.check:
                readme_path.write_text(wanted)
    if args.check and stale:
        print("variables or alerts reference out of date in: " + ", ".join(stale)
              + " (run scripts/role_docs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
