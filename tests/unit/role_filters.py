"""Load a role's filter plugin as a module (plugins/filter/<role>.py of the collection)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(role: str) -> ModuleType:
    """plugins/filter/<role>.py, freshly executed."""
    path = ROOT / "plugins" / "filter" / f"{role}.py"
    spec = importlib.util.spec_from_file_location(f"{role}_filters", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
