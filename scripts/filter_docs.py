#!/usr/bin/env python3
"""Write the documentation of every filter of the collection (plugins/filter/<name>.yml).

ansible-doc reads a filter's DOCUMENTATION, EXAMPLES and RETURN from the YAML
file next to its plugin, named after the filter. They are generated here from
the filter function (its docstring and signature) and from the first place a
kit role or playbook calls it (the example), so they cannot drift from the
code (tests/unit/test_filter_docs.py fails when they do).

Every filter is the plumbing of a kit role: documented so that ansible-doc
works and a reader of a task knows what it does, but outside the versioned
interface (README, "Versioning"): it may change in any release.

    scripts/filter_docs.py            # rewrite every filter's documentation
    scripts/filter_docs.py --check    # exit 1 when one is out of date or left over
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FILTERS = ROOT / "plugins" / "filter"
HEADER = "---\n# Generated from the filter's code by scripts/filter_docs.py: do not edit.\n"
TYPES = {"str": "str", "int": "int", "bool": "bool", "float": "float"}
INTERNAL = ("Plumbing of the kit's roles, not part of the collection's versioned interface: it may change in"
            " any release (README, Versioning).")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, sequences indented (yamllint)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def _load(path: Path) -> ModuleType:
    # The plugins import the collection's module_utils: .collection makes the checkout hardened.sessions.
    if str(ROOT / ".collection") not in sys.path:
        sys.path.insert(0, str(ROOT / ".collection"))
    spec = importlib.util.spec_from_file_location(f"_kit_filter_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def filters() -> dict[str, tuple[str, Callable[..., Any]]]:
    """Filter name -> (plugin file stem, function), for every plugin in plugins/filter."""
    found: dict[str, tuple[str, Callable[..., Any]]] = {}
    for path in sorted(FILTERS.glob("*.py")):
        for name, function in _load(path).FilterModule().filters().items():
            found[name] = (path.stem, function)
    return found


def _type(annotation: Any) -> str:
    text = str(annotation).strip("'")
    if text in TYPES:
        return TYPES[text]
    if re.match(r"(list|Iterable|tuple)\b", text):
        return "list"
    if re.match(r"(dict|Mapping)\b", text):
        return "dict"
    return "raw"


def _sentences(doc: str) -> list[str]:
    """The docstring's paragraphs, each on one line, ``x`` as C(x)."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc) if p.strip()]
    return [re.sub(r"``?([^`]+)``?", r"C(\1)", p) for p in paragraphs]


def example(name: str) -> str:
    """The first task line of a shipped role or playbook calling the filter, or a bare call."""
    pattern = re.compile(rf"hardened\.sessions\.{name}\b")
    for top in ("roles", "playbooks"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in {".yml", ".j2"} or "kit_testhost" in path.parts:
                continue
            lines = path.read_text().splitlines()
            for n, line in enumerate(lines):
                if pattern.search(line):
                    # From the line opening the expression (a few lines up at most).
                    start = next((i for i in range(n, max(-1, n - 5), -1) if "{{" in lines[i]), n)
                    snippet = [part for raw in lines[start:n + 1]
                               for part in textwrap.wrap(raw.strip(), 140, subsequent_indent="  ")]
                    where = path.relative_to(ROOT).as_posix()
                    return f"# As {where} calls it:\n# " + "\n# ".join(snippet) + "\n"
    return f"# {{{{ value | hardened.sessions.{name} }}}}\n"


def document(name: str, stem: str, function: Callable[..., Any]) -> str:
    """The YAML documentation file of one filter."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())
    doc = inspect.getdoc(function) or ""
    sentences = _sentences(doc) or [name]
    first, *rest = params
    options: dict[str, Any] = {"_input": {"description": f"The value piped into the filter (C({first.name})).",
                                          "type": _type(first.annotation), "required": True}}
    for param in rest:
        option: dict[str, Any] = {"description": f"Argument C({param.name}) of the filter.",
                                  "type": _type(param.annotation)}
        if param.default is inspect.Parameter.empty:
            option["required"] = True
        elif param.default not in ((), None):
            option["default"] = param.default
        options[param.name] = option
    returns = str(signature.return_annotation).strip("'")
    documentation = {
        "name": name,
        "short_description": sentences[0].rstrip(".")[:160],
        "description": [*sentences, f"Defined in C(plugins/filter/{stem}.py).", INTERNAL],
        "author": ["Hardened session-store kit maintainers"],
        "positional": ", ".join(p.name for p in rest),
        "options": options,
    }
    body = {"DOCUMENTATION": documentation, "EXAMPLES": example(name),
            "RETURN": {"_value": {"description": f"The result ({returns}).", "type": _type(returns)}}}
    return HEADER + yaml.dump(body, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def wanted() -> dict[Path, str]:
    return {FILTERS / f"{name}.yml": document(name, stem, function) for name, (stem, function) in filters().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is out of date or left over")
    args = parser.parse_args(argv)
    files = wanted()
    stale = sorted(p.name for p, text in files.items() if not p.is_file() or p.read_text() != text)
    extra = sorted(p.name for p in FILTERS.glob("*.yml") if p not in files)
    if args.check:
        for problem in [*(f"{n}: out of date" for n in stale), *(f"{n}: no such filter" for n in extra)]:
            print(f"filter_docs: {problem} (run scripts/filter_docs.py)", file=sys.stderr)
        return 1 if stale or extra else 0
    for path, text in files.items():
        path.write_text(text)
    for name in extra:
        (FILTERS / name).unlink()
    print(f"filter_docs: {len(files)} filters documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
