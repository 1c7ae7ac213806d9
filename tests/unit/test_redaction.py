"""Redaction of encoded secrets (issue 22 item 8): the audit report and the suite's failure output.

A secret reaches a report percent-encoded (phpredis save_path), JSON-escaped, PHP-escaped
(var_export, addslashes), as a Python repr, base64 (at any offset of a longer value) or hex.
Each test shows the encoded form is present before redaction (the test can fail) and gone after.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
import redaction
import verify_report

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "roles" / "session_verify" / "files" / "suite"
# Characters every encoding changes: '/', quotes, backslash, '+', '&', '%', '=', non-ASCII.
SECRET = "pa/ss'wo\"rd\\+&=%é-0123456789"


def _php_var_export(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


ENCODED = {
    "percent (phpredis save_path)": f"tls://redis:6379?auth[user]=shop&auth[pass]={quote(SECRET, safe='')}&prefix=x",
    "percent, lower-case hex": "auth[pass]=" + quote(SECRET, safe="").lower(),
    "JSON": json.dumps({"user": "shop", "password": SECRET}),
    "JSON, non-ASCII kept": json.dumps({"password": SECRET}, ensure_ascii=False),
    "JSON with escaped slashes (PHP json_encode)": json.dumps({"p": SECRET}).replace("/", "\\/"),
    "JSON inside JSON": json.dumps({"log": json.dumps({"password": SECRET})}),
    "PHP var_export": f"array ( 'password' => {_php_var_export(SECRET)}, )",
    "PHP serialize": f's:{len(SECRET.encode())}:"{SECRET}";',
    "PHP addslashes": SECRET.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"'),
    "Python repr (pytest assertion operands)": repr({"password": SECRET}),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    **{f"base64 at offset {n}": base64.b64encode(b"shop:"[:n] + SECRET.encode() + b"!").decode() for n in range(1, 4)},
    "base64url": base64.urlsafe_b64encode(b"x" + SECRET.encode()).decode(),
    "hex (RESP send-binary)": SECRET.encode().hex(),
}


def _leaks(text: str) -> bool:
    """Whether ``text`` still shows the secret in one of the forms of ENCODED."""
    return any(piece in text for piece in redaction.forms(SECRET))


@pytest.mark.parametrize("form", list(ENCODED))
def test_encoded_secret_is_redacted(form: str) -> None:
    text = f"before {ENCODED[form]} after"
    assert _leaks(text), "the encoded form is not recognised (the test could not fail)"
    redacted = redaction.redact(text, redaction.all_forms([SECRET]))
    assert not _leaks(redacted), redacted
    assert redacted.startswith("before ") and redacted.endswith(" after")
    assert redaction.REDACTED in redacted


def test_short_base64_fragments_are_not_redacted() -> None:
    """A short secret's base64 fragment could occur anywhere: only its longer forms are redacted."""
    assert all(len(form) >= 3 for form in redaction.forms("abc"))
    assert redaction.redact("Fi YW Jj", redaction.all_forms(["abc"])) == "Fi YW Jj"


def test_report_redacts_encoded_forms(tmp_path: Path) -> None:
    """report.md and junit.xml carry none of the encoded forms of a context password."""
    evidence = " | ".join(ENCODED.values())
    junit = (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" '
             f'skipped="0" tests="1"><testcase classname="test_demo" name="test_x[app]" time="0.1">'
             f'<failure message="{_xml(evidence)}">{_xml(evidence)}</failure></testcase></testsuite></testsuites>')
    (tmp_path / "junit.xml").write_text(junit)
    (tmp_path / "context.json").write_text(json.dumps({"redis": [{"app_users": [{"password": SECRET}]}]}))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_demo.py").write_text("def test_x():\n    pass\n")
    out = tmp_path / "report"
    verify_report.write_report(tmp_path / "junit.xml", tmp_path / "context.json", tests, out, "Audit")
    for name in ("report.md", "junit.xml"):
        text = (out / name).read_text()
        for form, value in ENCODED.items():
            assert value not in text, f"{name}: {form}"
        assert not _leaks(text), name
    assert _leaks(evidence)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(">", "&gt;")


def test_suite_failure_output_redacts_encoded_forms(tmp_path: Path) -> None:
    """A suite test failing with encoded secrets in its assertion: pytest's report shows none of them."""
    context = tmp_path / "context.json"
    context.write_text(json.dumps({"redis": [{"name": "r1", "admin_password": SECRET}], "postgresql": [], "apps": [],
                                   "inventory": []}))
    evidence = json.dumps(list(ENCODED.values()))
    test = tmp_path / "test_leak.py"
    test.write_text(textwrap.dedent(f"""
        import json

        def test_leak():
            evidence = json.loads({evidence!r})
            print(evidence)
            assert evidence == []
    """))
    env = {**os.environ, "KIT_VERIFY_CONTEXT": str(context), "PYTHONPATH": str(SUITE)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--confcutdir", str(SUITE), "-p", "conftest", str(test)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "test_leak" in output and redaction.REDACTED in output, output[-3000:]
    for form, value in ENCODED.items():
        assert value not in output, f"{form}: {output[-3000:]}"
    assert not _leaks(output), output[-3000:]
