"""The test files stay small and every reference to one names a file that exists.

Test files are split by concern, none over 300 lines. Scenarios select suite
files with pytest arguments (session_verify_pytest_args: --ignore=FILE, or a
FILE): a name that matches no file silently selects nothing or everything,
so each must exist, and a scenario that ignores part of a family of files
(the single-node Redis or PostgreSQL files, the app files) ignores all of it.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "roles/session_verify/files/suite"
UNIT = ROOT / "tests/unit"
MAX_LINES = 300

# Where scenarios, playbooks and inventories set session_verify_pytest_args.
ARG_FILES = sorted([*ROOT.glob("molecule/*/*.yml"), *ROOT.glob("playbooks/*.yml"), *ROOT.glob("inventories/**/*.yml")])
# --ignore=test_x.py, or a quoted test_x.py (a file argument).
FILE_ARG = re.compile(r"""(?:--ignore=|["'])(test_\w+\.py)\b""")
# Markdown: `tests/integration/test_x.py`, `test_{a,b}.py`, `test_app_*.py` ...
DOC_REF = re.compile(r"`(?:tests/(?:integration|unit)/)?(test_[\w{},*]+\.py)`")


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("test_*.py"))


def families() -> dict[str, set[str]]:
    """Suite files a scenario ignores together: the single-node store files and the app files."""
    names = {p.name for p in files_in(SUITE)}
    return {
        "single-node Redis": {n for n in names if n.startswith("test_redis_") and not n.startswith("test_redis_ha_")},
        "single-node PostgreSQL": {n for n in names
                                   if n.startswith("test_postgresql_") and not n.startswith("test_postgresql_ha_")},
        # The PostgreSQL app files also run where an HA PostgreSQL store serves an app.
        "apps": {n for n in names if n.startswith("test_app_") and not n.startswith("test_app_postgresql")},
    }


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
def test_a_scenario_ignores_a_family_of_files_whole(path: Path) -> None:
    ignored = set(re.findall(r"--ignore=(test_\w+\.py)\b", path.read_text()))
    for family, members in families().items():
        assert not ignored & members or members <= ignored, \
            f"{path.relative_to(ROOT)} ignores part of the {family} files only; missing: {sorted(members - ignored)}"


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
