"""The test files stay small and every reference to one names a file that exists.

Test files are split by concern, none over 300 lines. Scenarios select suite
files with pytest arguments (session_verify_pytest_args): a FILE, which must
exist (a name that matches no file silently selects nothing or everything), or
-m with the families of files the suite's conftest marks by file name (the
single-node Redis or PostgreSQL files, the apps): an unknown marker name
would select nothing or everything too, so each must be a family.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import conftest as suite_conftest
import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "roles/session_verify/files/suite"
UNIT = ROOT / "tests/unit"
MAX_LINES = 300

# Where scenarios, playbooks and inventories set session_verify_pytest_args.
ARG_FILES = sorted([*ROOT.glob("molecule/*/*.yml"), *ROOT.glob("playbooks/*.yml"), *ROOT.glob("inventories/**/*.yml")])
# A quoted test_x.py (a file argument).
FILE_ARG = re.compile(r"""["'](test_\w+\.py)\b""")
# The -m expression of a scenario's session_verify_pytest_args.
MARK_EXPR = re.compile(r"""session_verify_pytest_args:\s*\[\s*["']-m["']\s*,\s*["']([^"']+)["']""")
# Markdown: `tests/integration/test_x.py`, `test_{a,b}.py`, `test_app_*.py` ...
DOC_REF = re.compile(r"`(?:tests/(?:integration|unit)/)?(test_[\w{},*]+\.py)`")


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("test_*.py"))


def families() -> dict[str, set[str]]:
    """Suite files a scenario leaves out together, as the suite's conftest marks them."""
    found: dict[str, set[str]] = {name: set() for name in suite_conftest.FAMILIES}
    for path in files_in(SUITE):
        name = suite_conftest.family(path.name)
        if name is not None:
            found[name].add(path.name)
    return found


# Over the limit for now, with the reason; an entry whose file is back under it fails (remove the entry).
NOT_YET_SPLIT: dict[str, str] = {}


@pytest.mark.parametrize("path", [*files_in(SUITE), *files_in(UNIT)], ids=lambda p: p.name)
def test_no_test_file_is_over_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    if path.parent == UNIT and path.name in NOT_YET_SPLIT:
        assert lines > MAX_LINES, f"{path.name} has {lines} lines now: remove it from NOT_YET_SPLIT"
        pytest.skip(f"{path.name}: {lines} lines, {NOT_YET_SPLIT[path.name]}")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines; split it by concern"


@pytest.mark.parametrize("path", files_in(SUITE), ids=lambda p: p.name)
def test_suite_files_import_helpers_not_other_test_files(path: Path) -> None:
    """Shared code lives in conftest.py and the *_client.py helpers: an --ignore'd file is never needed."""
    imported = {node.module for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not {m for m in imported if m.startswith("test_")}, imported


@pytest.mark.parametrize("path", ARG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pytest_arguments_name_existing_suite_files(path: Path) -> None:
    for name in FILE_ARG.findall(path.read_text()):
        assert (SUITE / name).is_file(), f"{path.relative_to(ROOT)} names {name}: no such suite file"


@pytest.mark.parametrize("path", ARG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_marker_expressions_name_families(path: Path) -> None:
    for expression in MARK_EXPR.findall(path.read_text()):
        unknown = set(re.findall(r"\w+", expression)) - {"and", "or", "not"} - set(suite_conftest.FAMILIES)
        assert not unknown, f"{path.relative_to(ROOT)}: -m {expression!r} names {sorted(unknown)}, no family"


def test_the_families_follow_the_file_names() -> None:
    found = families()
    assert "test_redis_acl.py" in found["redis_node"] and "test_redis_ha_roll.py" not in found["redis_node"]
    assert "test_postgresql_auth.py" in found["postgresql_node"]
    assert not any(n.startswith("test_postgresql_ha_") for n in found["postgresql_node"])
    assert {"test_app_cookie.py", "test_phalcon.py"} <= found["app"]
    names = {p.name for p in files_in(SUITE)}
    assert found["app_postgresql"] == {n for n in names if n.startswith("test_app_postgresql")}


def test_the_scenarios_select_by_family() -> None:
    """Control: the three partial scenarios use -m (an empty match list would make the check above vacuous)."""
    expressions = [e for path in ARG_FILES for e in MARK_EXPR.findall(path.read_text())]
    assert len(expressions) >= 3, expressions


def test_every_family_has_files() -> None:
    """Control: the families above match the suite's names (an empty one would make the check vacuous)."""
    assert all(families().values()), families()


def _expand(pattern: str) -> list[str]:
    """test_{a,b}_*.py -> [test_a_*.py, test_b_*.py]."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    choices = [p.split(",") if i % 2 else [p] for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


@pytest.mark.parametrize("path", sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("roles/*/README.md")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_existing_test_files(path: Path) -> None:
    for reference in DOC_REF.findall(path.read_text()):
        for pattern in _expand(reference):
            found = [*SUITE.glob(pattern), *UNIT.glob(pattern)]
            assert found, f"{path.relative_to(ROOT)} names {reference}: no such test file"
