"""A looped task over a list that holds passwords must be no_log.

Ansible prints a failed loop result with its whole item, whatever
`loop_control.label` shows: a task looping over the stores' client views (or
any list of credentials) without `no_log` puts the passwords in the output and
the logs the moment it fails. Roles loop over password-free copies instead
(`_php_session_app_public`, `_redis_session_proxy_public`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Variables whose values hold passwords (client views, resolved app
# connections, the inventory's credential lists).
SECRET_LISTS = (
    "_redis_session_proxy_stores",
    "_php_session_app_resolved",
    "_php_session_app_connections",
    "redis_session_store_client",
    "postgresql_session_store_client",
    "redis_session_store_app_users",
    "postgresql_session_store_apps",
    "_postgresql_session_store_apps",
)
SECRET_RE = re.compile(r"\b(" + "|".join(SECRET_LISTS) + r")\b")


def tasks(items: Any) -> Iterator[dict[str, Any]]:
    for task in items or []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always"):
                yield from tasks(task.get(key))


def looped_over_secrets() -> list[str]:
    found = []
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")):
        for task in tasks(yaml.safe_load(path.read_text())):
            loop = task.get("loop", task.get("with_items"))
            if loop is not None and SECRET_RE.search(str(loop)) and task.get("no_log") is not True:
                found.append(f"{path.relative_to(ROOT)}: {task.get('name')}")
    return found


def test_no_task_loops_over_passwords_without_no_log() -> None:
    assert looped_over_secrets() == []


@pytest.mark.parametrize("name", SECRET_LISTS)
def test_each_secret_list_exists(name: str) -> None:
    """The names above are the roles' real variables (a rename would blind the check)."""
    assert any(re.search(rf"\b{name}\b", p.read_text()) for p in ROOT.glob("roles/*/**/*.yml"))
