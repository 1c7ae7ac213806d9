"""Inventory values as the kit's filters read them (shared by the filter plugins)."""

from __future__ import annotations

from typing import Any


def as_int(value: Any) -> int | None:
    """An integer inventory value, also when a template rendered it as text; None when it is not one
    (booleans included: ``true`` is not a port or a timeout)."""
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
