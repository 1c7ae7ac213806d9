"""The audit report (roles/session_verify/files/verify_report.py): controls, evidence, and never a secret."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import verify_report

PASSWORD = "s3cret-Redis-App-Pw-0123456789"
ADMIN = "adminPW-abcdefghijklmnop"

JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3">
<testcase classname="test_demo" name="test_cookie_is_hardened[app-trixie:shop]" time="0.25"/>
<testcase classname="test_demo" name="test_store_refuses_other_keys[app-redis]" time="0.5">
<failure message="AssertionError: AUTH shop {PASSWORD} accepted">redis.exceptions: login shop/{PASSWORD}
admin {ADMIN} also</failure></testcase>
<testcase classname="test_demo" name="test_probe_round_trip[app-trixie:dark]" time="0">
<skipped type="pytest.skip" message="probe disabled on app-trixie:dark (php_session_app_probe_enabled: false)"/>
</testcase>
<system-out>connecting with {PASSWORD}</system-out>
</testsuite></testsuites>
"""

TESTS = '''
def test_cookie_is_hardened():
    """Session cookie is Secure, HttpOnly, SameSite.

    More text.
    """

def test_store_refuses_other_keys():
    """The app user cannot read keys outside its prefix."""

def test_probe_round_trip():
    pass
'''


def _run(tmp_path: Path) -> tuple[str, str, dict[str, int]]:
    (tmp_path / "junit.xml").write_text(JUNIT)
    (tmp_path / "context.json").write_text(json.dumps({
        "inventory": ["/inv/production"],
        "redis": [{"admin_password": ADMIN, "app_users": [{"name": "shop", "password": PASSWORD}]}],
    }))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_demo.py").write_text(TESTS)
    out = tmp_path / "report"
    totals = verify_report.write_report(tmp_path / "junit.xml", tmp_path / "context.json", tests, out, "Audit")
    return (out / "report.md").read_text(), (out / "junit.xml").read_text(), totals


def test_report_never_carries_a_context_password(tmp_path: Path) -> None:
    report, junit, _ = _run(tmp_path)
    for text in (report, junit):
        assert PASSWORD not in text and ADMIN not in text
    assert verify_report.REDACTED in report
    # The JUnit copy stays well-formed XML, with the secret escaped away.
    assert "connecting with &lt;redacted&gt;" in junit
    failure = ET.fromstring(junit).find(".//failure")
    assert failure is not None and failure.get("message") == "AssertionError: AUTH shop <redacted> accepted"
    # Without redaction the secret would be there (the test can fail).
    assert PASSWORD in JUNIT and ADMIN in JUNIT


def test_report_lists_each_control_with_result_target_and_evidence(tmp_path: Path) -> None:
    report, _, totals = _run(tmp_path)
    assert totals == {"failed": 1, "error": 0, "passed": 1, "skipped": 1}
    assert "Verdict: **FAILED**" in report and "`/inv/production`" in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and "Result" not in line]
    assert len(rows) == 3, rows
    assert rows[0].startswith("| FAILED | The app user cannot read keys outside its prefix. | app-redis |")
    assert "AssertionError: AUTH shop <redacted> accepted" in rows[0]
    assert rows[1].startswith("| PASSED | Session cookie is Secure, HttpOnly, SameSite. | app-trixie:shop |")
    assert rows[2].startswith("| SKIPPED | Probe round trip | app-trixie:dark |")
    assert "probe disabled on app-trixie:dark" in rows[2]
    # The failure's full evidence, in its own section.
    assert "### FAILED: The app user cannot read keys outside its prefix." in report
    assert "admin <redacted> also" in report


def test_longer_secrets_are_replaced_first() -> None:
    hidden = verify_report.secrets({"a_password": "abc", "b": [{"c_password": "abcdef"}], "other": "abcdef"})
    assert hidden == ["abcdef", "abc"]
    assert verify_report.redact("x abcdef y abc", hidden) == "x <redacted> y <redacted>"


def test_table_cells_cannot_break_the_table() -> None:
    assert verify_report.cell("a | b\n`c`") == "a \\| b 'c'"
