"""The collection's Prometheus alert rules: valid, and each one unit-tested by promtool.

promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh, `make deps`). Without it
the promtool tests skip, saying so; `make test` (and CI) sets KIT_REQUIRE_PROMTOOL=1, where a
missing promtool fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring/session-kit.rules.yml"
RULE_TESTS = ROOT / "tests/unit/monitoring/session-kit.rules.test.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("KIT_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is missing but KIT_REQUIRE_PROMTOOL is set: install Debian's prometheus (make deps)")
        pytest.skip("promtool not installed (Debian package prometheus, `make deps`); make test requires it")
    return path


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_tests_pass() -> None:
    result = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True,
                            cwd=RULE_TESTS.parent, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    """Each alert has a case where it fires and one where it must not (a test that cannot fail is none)."""
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    for rule in alerts():
        assert cases.get(rule["alert"]) == {True, False}, f"{rule['alert']}: needs a firing and a silent case"


def test_every_alert_has_severity_and_explanation() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alerts():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        for note in ("summary", "description", "action"):  # action: the README's "first action"
            assert rule["annotations"].get(note), (rule["alert"], note)
