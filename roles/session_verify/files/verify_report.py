#!/usr/bin/env python3
"""Audit report of a verification run: Markdown for people, JUnit XML for CI.

Reads the suite's JUnit XML (pytest --junitxml) and writes into OUT_DIR:
- report.md: totals, then every control (the test's docstring first line,
  else its name) with its result, the host:app it ran against and the
  evidence (failure message, skip reason);
- junit.xml: the same JUnit XML.
The report also lists every kit certificate the suite read
(test_certificates.py: JUnit suite properties "kit_certificates:HOST") with
its days left, soonest first, marking those below the alarm threshold.
Both are redacted: every password of the verification context (keys ending
in "password", as the suite's conftest does) is replaced by <redacted>,
wherever it appears, literally or encoded (percent, JSON, PHP, repr, base64,
hex: suite/redaction.py, shared with the suite). Nothing else is read from
the context.

    verify_report.py --junit junit.xml --context context.json --tests-dir roles/session_verify/files/suite --out DIR
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.util
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
RESULTS = ("failed", "error", "passed", "skipped")


@dataclass(frozen=True)
class Case:
    """One test case of the run."""

    module: str
    name: str
    result: str
    message: str
    seconds: float

    @property
    def function(self) -> str:
        return self.name.split("[", 1)[0]

    @property
    def target(self) -> str:
        """The parameter id (host:app, store, TLS version ...), "" for unparametrized tests."""
        match = re.search(r"\[(.*)\]\Z", self.name)
        return match.group(1) if match else ""


def secrets(node: Any) -> list[str]:
    """Every password of the context, longest first (a secret may contain another)."""
    found: set[str] = set()

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and str(key).endswith("password") and item:
                    yield item
                else:
                    yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    found.update(walk(node))
    return sorted(found, key=len, reverse=True)


def redact(text: str, hidden: list[str]) -> str:
    """``text`` with every secret of ``hidden`` replaced by <redacted>, in each of its encoded forms."""
    return str(_redaction().redact(text, _forms(tuple(hidden))))


@functools.cache
def _forms(hidden: tuple[str, ...]) -> list[str]:
    return list(_redaction().all_forms(hidden))


def _redaction() -> Any:
    """The suite's redaction module (suite/redaction.py next to this script), loaded once."""
    module = sys.modules.get("redaction")
    if module is None:
        spec = importlib.util.spec_from_file_location("redaction", Path(__file__).resolve().parent / "suite"
                                                      / "redaction.py")
        if spec is None or spec.loader is None:
            raise ImportError("suite/redaction.py is missing next to verify_report.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["redaction"] = module
        spec.loader.exec_module(module)
    return module


def redact_xml(root: ET.Element, hidden: list[str]) -> None:
    """Redact every text, tail and attribute value of the tree in place."""
    for element in root.iter():
        element.text = redact(element.text, hidden) if element.text else element.text
        element.tail = redact(element.tail, hidden) if element.tail else element.tail
        for key, value in element.attrib.items():
            element.set(key, redact(value, hidden))


def parse_junit(root: ET.Element) -> list[Case]:
    """Test cases of a pytest JUnit XML document."""
    cases = []
    for case in root.iter("testcase"):
        result, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                result = {"failure": "failed"}.get(tag, tag)
                message = "\n".join(part for part in (element.get("message", ""), element.text or "") if part).strip()
                break
        cases.append(Case(module=case.get("classname", ""), name=case.get("name", ""), result=result,
                          message=message, seconds=float(case.get("time", "0") or 0)))
    return cases


CERT_PROPERTY = "kit_certificates:"


def certificates(root: ET.Element) -> tuple[list[dict[str, Any]], int | None]:
    """Every certificate the suite recorded (suite properties kit_certificates:HOST), soonest expiry first,
    and the alarm threshold in days (None: the check did not run)."""
    found: list[dict[str, Any]] = []
    threshold: int | None = None
    for prop in root.iter("property"):
        if not prop.get("name", "").startswith(CERT_PROPERTY):
            continue
        data = json.loads(prop.get("value") or "{}")
        threshold = int(data.get("min_days", 0)) if threshold is None else min(threshold, int(data.get("min_days", 0)))
        found += [dict(c) for c in data.get("certificates", [])]
    found.sort(key=lambda c: (int(c["days_left"]), str(c["host"]), str(c["path"]), str(c["subject"])))
    return found, threshold


def render_certificates(certs: list[dict[str, Any]], threshold: int | None) -> list[str]:
    """The report's certificate section (no lines when the check did not run)."""
    if threshold is None:
        return []
    short = [c for c in certs if int(c["days_left"]) < threshold]
    lines = ["## Certificates", "",
             f"{len(certs)} kit certificates; alarm below {threshold} days left (session_verify_cert_min_days): "
             + (f"**{len(short)} below, converge to renew them**." if short else "none below."), "",
             "| Days left | Expires | Host | File | Subject |", "|---|---|---|---|---|"]
    for cert in certs:
        days = int(cert["days_left"])
        mark = f"**{days}** (below {threshold})" if days < threshold else str(days)
        lines.append(f"| {mark} | {cell(str(cert['not_after']))} | {cell(str(cert['host']))} | "
                     f"`{cell(str(cert['path']))}` | {cell(str(cert['subject']))} |")
    return [*lines, ""]


def docstrings(tests_dir: Path) -> dict[tuple[str, str], str]:
    """(module, function) -> first line of the test's docstring, read statically (nothing is imported)."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node)
                if doc:
                    found[(path.stem, node.name)] = doc.strip().splitlines()[0]
    return found


def control(case: Case, docs: dict[tuple[str, str], str]) -> str:
    module = case.module.rsplit(".", 1)[-1]
    return docs.get((module, case.function)) or case.function.removeprefix("test_").replace("_", " ").capitalize()


def cell(text: str) -> str:
    """Text for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")


def render(cases: list[Case], docs: dict[tuple[str, str], str], title: str, inventory: str, when: str,
           certs: tuple[list[dict[str, Any]], int | None] = ([], None)) -> str:
    totals = {result: sum(1 for c in cases if c.result == result) for result in RESULTS}
    verdict = "FAILED" if totals["failed"] or totals["error"] else "PASSED"
    lines = [
        f"# {title}", "",
        f"- Verdict: **{verdict}**",
        f"- Inventory: `{inventory}`",
        f"- Run: {when}",
        "- Totals: " + ", ".join(f"{totals[r]} {r}" for r in RESULTS) + f" ({len(cases)} checks)",
        "", "Each control is proven from a client's side (see the kit's README); a skipped check names why.", "",
    ]
    problems = [c for c in cases if c.result in ("failed", "error")]
    if problems:
        lines += ["## Failures", ""]
        for case in problems:
            lines += [f"### {case.result.upper()}: {control(case, docs)}", "",
                      f"- Test: `{case.module}::{case.name}`", f"- Target: `{case.target or '-'}`", "",
                      "```text", case.message.replace("```", "'''") or "(no message)", "```", ""]
    lines += render_certificates(*certs)
    lines += ["## Controls", "", "| Result | Control | Target | Test | Evidence |", "|---|---|---|---|---|"]
    order = {result: index for index, result in enumerate(RESULTS)}
    for case in sorted(cases, key=lambda c: (order[c.result], c.module, c.name)):
        evidence = case.message.splitlines()[0] if case.message else f"{case.seconds:.2f} s"
        lines.append(f"| {case.result.upper()} | {cell(control(case, docs))} | {cell(case.target or '-')} "
                     f"| `{cell(case.module + '::' + case.function)}` | {cell(evidence)[:300]} |")
    return "\n".join(lines) + "\n"


def write_report(junit: Path, context: Path | None, tests_dir: Path, out: Path, title: str) -> dict[str, int]:
    """Write OUT/report.md and OUT/junit.xml (both redacted); the totals."""
    ctx = json.loads(context.read_text()) if context and context.exists() else {}
    hidden = secrets(ctx)
    root = ET.fromstring(junit.read_text(errors="replace"))
    redact_xml(root, hidden)
    cases = parse_junit(root)
    inventory = ", ".join(str(i) for i in ctx.get("inventory") or []) or "-"
    when = datetime.fromtimestamp(junit.stat().st_mtime, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = redact(render(cases, docstrings(tests_dir), title, redact(inventory, hidden), when, certificates(root)),
                  hidden)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    ET.ElementTree(root).write(out / "junit.xml", encoding="utf-8", xml_declaration=True)
    return {result: sum(1 for c in cases if c.result == result) for result in RESULTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--junit", type=Path, required=True)
    parser.add_argument("--context", type=Path)
    parser.add_argument("--tests-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="Session kit audit")
    args = parser.parse_args(argv)
    totals = write_report(args.junit, args.context, args.tests_dir, args.out, args.title)
    print(json.dumps({"report": str(args.out / "report.md"), "junit": str(args.out / "junit.xml"), **totals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
