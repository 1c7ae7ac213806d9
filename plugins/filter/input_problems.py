"""Shared input checks for the roles' validate tasks (rules in plugins/module_utils/input_rules.py).

* ``line_problems(values, separators='', what='')``: ``values`` maps variable names to values that
  land on a line of a configuration file; the messages name each variable whose value holds a
  control character or one of ``separators`` (lists and mappings item by item). No value is
  ever in a message: callers may pass secrets (in a no_log task).
* ``reserved_account_problems(values, kit_accounts=[])``: ``values`` maps variable names to
  account names; a message for each that is a reserved system account or one of the kit's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.hardened.sessions.plugins.module_utils import input_rules as rules


def line_problems(values: Mapping[str, Any], separators: str = "", what: str = "") -> list[str]:
    """Control characters (and ``separators``) in strings bound for a configuration line."""
    return rules.line_problems(values, separators, what)


def reserved_account_problems(values: Mapping[str, Any], kit_accounts: Iterable[Any] = ()) -> list[str]:
    """Reserved system accounts (and the kit's own ones) among ``values``."""
    problems = [rules.reserved_problem(str(var), name, kit_accounts) for var, name in values.items()]
    return [p for p in problems if p]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"line_problems": line_problems, "reserved_account_problems": reserved_account_problems}
