"""Handlers behind kit_files fire exactly when one of their files changed.

A kit_files task returns a changed flag per entry; a controller-side ``debug``
task after it notifies the handler from the flags of the entries whose keys
name it (tasks/config.yml of redis_session_store, tasks/gc.yml of
postgresql_session_store, tasks/phalcon.yml of php_session_app). These tests
run each role's own notify task (read from the role's task file) in a play on
localhost, with the kit_files result it reads set per case, and a handler
listening on the role's topic: it must fire when a notifying entry changed and
only then (not for an unchanged run, nor for an entry without a handler).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def role_task(role: str, task_file: str, name: str) -> dict[str, Any]:
    """The task called ``name`` in roles/ROLE/tasks/TASK_FILE (fails when it is missing)."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / task_file).read_text())
    found = [t for t in tasks if t.get("name") == name]
    assert len(found) == 1, f"{role}/tasks/{task_file}: no single task named {name!r}"
    return found[0]


def files_result(changed: dict[str, bool]) -> dict[str, Any]:
    """A kit_files result: one entry per key, with its changed flag."""
    return {"changed": any(changed.values()),
            "files": {key: {"path": f"/x/{key}", "changed": flag} for key, flag in changed.items()}}


def run_cases(tmp_path: Path, role: str, task: dict[str, Any], register: str, handler: dict[str, Any],
              cases: dict[str, dict[str, bool]]) -> set[str]:
    """One play per case; returns the cases whose handler fired."""
    plays = []
    for case, changed in cases.items():
        plays.append({
            "name": case, "hosts": "localhost", "gather_facts": False,
            "vars_files": [str(ROOT / "roles" / role / "vars" / "main.yml")],
            "vars": {register: files_result(changed)},
            "tasks": [task],
            "handlers": [{**handler, "ansible.builtin.debug": {"msg": f"FIRED-{case}"}}],
        })
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    return set(re.findall(r"msg: FIRED-(\w+)", out))


@pytest.mark.parametrize(("role", "task_file", "name", "register", "handler", "cases", "fires"), [
    pytest.param(
        "redis_session_store", "config.yml", "Restart the server when its configuration changed",
        "_redis_session_store_files", {"name": "restart", "listen": "Restart redis_session_store"},
        {"none": {"restart/conf": False, "/usr/local/sbin/loader": False},
         "loader": {"restart/conf": False, "/usr/local/sbin/loader": True},
         "conf": {"restart/conf": True, "/usr/local/sbin/loader": False},
         "dropin": {"restart/container": True, "restart/conf": False}},
        {"conf", "dropin"}, id="redis-restart"),
    pytest.param(
        "postgresql_session_store", "gc.yml", "Restart the GC timer when a unit changed",
        "_postgresql_session_store_gc_files", {"name": "Restart the session GC timer"},
        {"none": {"unit/service": False, "unit/timer": False, "/usr/local/sbin/gc": False},
         "script": {"unit/service": False, "unit/timer": False, "/usr/local/sbin/gc": True},
         "timer": {"unit/service": False, "unit/timer": True, "/usr/local/sbin/gc": False}},
        {"timer"}, id="postgresql-gc-timer"),
    pytest.param(
        "php_session_app", "phalcon.yml", "Notify PHP-FPM when the Phalcon ini or its links changed",
        "_php_session_app_phalcon_files", {"name": "fpm", "listen": "php_session_app fpm changed"},
        {"none": {"fpm/phalcon.ini": False, "fpm/link-fpm": False, "/marker.json": False},
         "marker": {"fpm/phalcon.ini": False, "fpm/link-fpm": False, "/marker.json": True},
         "ini": {"fpm/phalcon.ini": True, "fpm/link-fpm": False, "/marker.json": False},
         "link": {"fpm/phalcon.ini": False, "fpm/link-fpm": True, "/marker.json": False}},
        {"ini", "link"}, id="phalcon-fpm"),
])
def test_handler_fires_exactly_when_its_file_changed(tmp_path: Path, role: str, task_file: str, name: str,
                                                      register: str, handler: dict[str, Any],
                                                      cases: dict[str, dict[str, bool]], fires: set[str]) -> None:
    task = role_task(role, task_file, name)
    assert run_cases(tmp_path, role, task, register, handler, cases) == fires


@pytest.mark.parametrize(("role", "task_file", "name", "topics"), [
    ("redis_session_store", "config.yml", "Render the ACL users (password hashes only)",
     ["Reload redis_session_store ACL"]),
    ("postgresql_session_store", "config.yml", "Render postgresql.conf and pg_hba.conf",
     ["postgresql_session_store config changed", "postgresql_session_store hba changed"]),
])
def test_single_purpose_kit_files_tasks_notify_themselves(role: str, task_file: str, name: str,
                                                           topics: list[str]) -> None:
    """A kit_files task whose every entry has the same handler notifies it through its own changed flag."""
    task = role_task(role, task_file, name)
    assert "hardened.sessions.kit_files" in task
    notify = task.get("notify")
    assert (notify if isinstance(notify, list) else [notify]) == topics
