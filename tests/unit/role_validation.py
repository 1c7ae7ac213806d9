"""Run a role's validation against a host nothing listens on (the *_validation unit tests).

Argument specs and assert tasks run on the control node, so a correct role
fails with a message naming the variable and never tries to connect; a role
that let the value through would get past validation and fail later: at its
first fact-dependent step (no facts are gathered here) or at the first
remote task (the host is UNREACHABLE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLAY = Path(__file__).parent / "validation" / "play.yml"
PAST_VALIDATION = ("UNREACHABLE", "has no attribute 'distribution'")
# The default session_pki_ca_dir lies inside the inventory (each test's scratch directory), where
# validation requires session_pki_ca_passphrase (an encrypted CA key): every run sets one.
PKI_DEFAULTS: dict[str, Any] = {"session_pki_ca_passphrase": "validation-ca-passphrase-0123"}
# The host under test: nothing listens there, so a role that gets past validation fails to connect.
TARGET: dict[str, Any] = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_connection": "ssh",
                          "ansible_ssh_common_args": "-o ConnectTimeout=2", **PKI_DEFAULTS}


def _playbook(args: list[str], *, timeout: int = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook of this venv with the repository's configuration and collections."""
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}", **env}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(playbook), *args], capture_output=True, text=True, env=full_env, cwd=ROOT,
                          timeout=timeout, check=False)


def _play_one(workdir: Path, role: str, variables: dict[str, Any],
              groups: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """validation/play.yml on the one host ``target``, ``variables`` as extra vars; ``groups``: more
    inventory groups (the app role's fake store hosts)."""
    (workdir / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"target": TARGET}, "children": groups or {}}}))
    (workdir / "vars.json").write_text(json.dumps({"role_under_test": role, **variables}))
    return _playbook(["-i", str(workdir / "hosts.yml"), str(PLAY), "-e", f"@{workdir / 'vars.json'}",
                      "--limit", "target"])

# --- the store roles ---------------------------------------------------------------------------

GOOD_REDIS: dict[str, Any] = {
    "redis_session_store_admin_password": "A" * 24,
    "redis_session_store_app_users": [{"name": "app", "password": "B" * 24, "key_prefix": "app:sess:"}],
}


def run_role(tmp_path: Path, role: str, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return _play_one(tmp_path, role, extra)


# --- php_session_app: fake store hosts whose client view is plain host vars --------------------

REDIS_VIEW = {
    "name": "fake-redis", "server_name": "fake-redis", "host": "127.0.0.1", "port": 6379, "tls_port": 6379,
    "tls_auth_clients": "no", "ca_cert_local": "/nonexistent/ca.crt",
    "app_users": [{"name": "shop", "password": "S" * 24, "key_prefix": "shop:sess:"}],
}
PG_VIEW = {
    "name": "fake-pg", "host": "127.0.0.1", "port": 5432, "server_port": 5432, "database": "sessions",
    "schema": "session_store", "table": "session_data", "app_role": "session_app", "app_password": "P" * 24,
    "clientcert": "none", "ca_cert_local": "/nonexistent/ca.crt", "idle_timeout": 1800,
}
GOOD_APPS: list[dict[str, Any]] = [
    {"name": "shop", "store": "redis", "store_user": "shop", "port": 8443},
    {"name": "ledger", "store": "postgresql", "port": 8444},
    {"name": "notes", "store": "files", "port": 8445},
]


def app_store_groups(redis_view: bool | dict[str, Any] = True) -> dict[str, Any]:
    """The inventory groups of the fake store hosts (``redis_view``: as for run_app_role)."""
    return {
        "redis_session_stores": {"hosts": {"fake-redis": {"redis_session_store_client": (
            redis_view if isinstance(redis_view, dict) else REDIS_VIEW)} if redis_view else {}}},
        "postgresql_session_stores": {"hosts": {"fake-pg": {"postgresql_session_store_client": PG_VIEW,
                                                            "ansible_host": "pg1.example.org"}}},
        "empty_stores": {"hosts": {}},
    }


def run_app_role(tmp_path: Path, extra: dict[str, Any], *, redis_view: bool | dict[str, Any] = True) -> str:
    """Run php_session_app's validation; ``redis_view``: the fake Redis store's client view (True:
    REDIS_VIEW, False: none published)."""
    result = _play_one(tmp_path, "php_session_app", extra, app_store_groups(redis_view))
    assert result.returncode != 0
    return result.stdout + result.stderr



GOOD_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
# A well-formed sha256 of a Phalcon source archive.
SHA = "a" * 64


# --- batched runs: all cases of a module in one ansible-playbook run ----------------------------
#
# Spawning ansible-playbook costs seconds; validating one case costs a fraction of that. So a
# module's cases run in ONE ansible-playbook run: one inventory host per case, whose host vars are
# that case's variables, and one play per case host (the play is tests/unit/validation/play.yml's,
# limited to that host). A play per case keeps what a role computes over "the play's hosts"
# (ansible_play_hosts_all, run_once) to that case alone, as in a run of its own. A play whose
# hosts all fail would end the whole run, so every play also holds ANCHOR, a host that skips the
# role and never fails. The ansible.posix.json stdout callback gives each host's task results,
# from which each case's outcome is judged exactly as from a run of its own.
#
# VALIDATION_BATCH=0 runs every case alone (one ansible-playbook run each), for debugging one case.
# Cases that need the inventory to themselves run alone anyway (see needs_own_run).

BATCH = os.environ.get("VALIDATION_BATCH", "1") != "0"
ANCHOR = "validation-anchor"


def needs_own_run(variables: dict[str, Any]) -> bool:
    """HA checks count the hosts of a group (``all`` in the HA cases): with every case in the
    inventory, that group would hold them all, so these cases get an inventory of their own.
    (Also run alone: a case whose message is only in the label of a no_log loop item, which the
    JSON report does not keep; in the batch such a case fails, it cannot pass wrongly.)"""
    return any(variables.get(f"{store}_ha") for store in ("redis_session_store", "postgresql_session_store"))


@dataclass(frozen=True)
class Outcome:
    """One case's result: did its host fail, and its task results as text (messages verbatim)."""

    failed: bool
    text: str
    log: str  # the run's stderr (warnings, errors of ansible-playbook itself), for failure messages

    def tail(self, size: int = 2000) -> str:
        return (self.text + self.log)[-size:]


def _result_text(host: str, task: str, result: dict[str, Any]) -> str:
    shown = {k: v for k, v in result.items() if k != "invocation"}  # as the default callback hides it
    if result.get("unreachable"):
        status = f"fatal: [{host}]: UNREACHABLE!"
    elif result.get("failed"):
        status = f"fatal: [{host}]: FAILED!"
    elif result.get("skipped"):
        status = f"skipping: [{host}]"
    else:
        status = f"ok: [{host}]"
    if not (result.get("unreachable") or result.get("failed") or result.get("_ansible_verbose_always")):
        return f"TASK [{task}]\n{status}\n"  # the default callback shows no more of an ok result
    msg = result.get("msg")
    return f"TASK [{task}]\n{status} => {json.dumps(shown, ensure_ascii=False, default=str)}\n" + (
        f"{msg}\n" if isinstance(msg, str) else "")


def run_cases(workdir: Path, role: str, cases: dict[str, dict[str, Any]],
              groups: dict[str, Any] | None = None) -> dict[str, Outcome]:
    """Run ``role`` once for every case (host vars: the case's variables) in ONE ansible-playbook
    run; ``groups``: more inventory groups (the app role's fake store hosts). One case alone runs
    as before batching: play.yml, its variables as extra vars, the default callback's output."""
    workdir.mkdir(parents=True, exist_ok=True)
    if len(cases) == 1:
        return {name: _run_alone(workdir, role, variables, groups) for name, variables in cases.items()}
    hosts = {name: f"case-{i}" for i, name in enumerate(cases)} if len(cases) > 1 else {n: "target" for n in cases}
    inventory_hosts: dict[str, Any] = {hosts[n]: {**TARGET, "role_under_test": role, **v} for n, v in cases.items()}
    plays = []
    for host in hosts.values():
        play_hosts = [host, ANCHOR] if len(cases) > 1 else [host]
        plays.append({"name": f"Validate role input ({host})", "hosts": ",".join(play_hosts), "gather_facts": False,
                      "tasks": [{"name": "Run the role",
                                 "ansible.builtin.include_role": {"name": "hardened.sessions.{{ role_under_test }}"},
                                 "when": f"inventory_hostname != '{ANCHOR}'"}]})
    if len(cases) > 1:
        inventory_hosts[ANCHOR] = {"ansible_connection": "local"}
    inventory = {"all": {"hosts": inventory_hosts, "children": groups or {}}}
    (workdir / "hosts.yml").write_text(json.dumps(inventory))
    (workdir / "play.yml").write_text(json.dumps(plays))
    # The JSON report alone on stdout: no profile_tasks (an empty list is refused).
    result = _playbook(["-i", str(workdir / "hosts.yml"), str(workdir / "play.yml")], timeout=120 + 5 * len(cases),
                       ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json")
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"ansible-playbook gave no JSON report (rc {result.returncode}):\n"
                             + (result.stdout + result.stderr)[-3000:]) from None
    outcomes = {}
    for name, host in hosts.items():
        texts = [_result_text(host, task["task"]["name"], task["hosts"][host])
                 for play in report["plays"] for task in play["tasks"] if host in task["hosts"]]
        stats = report["stats"].get(host, {})
        outcomes[name] = Outcome(failed=bool(stats.get("failures") or stats.get("unreachable")),
                                 text="".join(texts), log=result.stderr)
    if len(cases) > 1 and report["stats"].get(ANCHOR, {}).get("failures"):
        raise AssertionError("the anchor host failed: " + result.stderr[-2000:])
    return outcomes


def _run_alone(workdir: Path, role: str, variables: dict[str, Any], groups: dict[str, Any] | None) -> Outcome:
    result = _play_one(workdir, role, variables, groups)
    return Outcome(failed=result.returncode != 0, text=result.stdout + result.stderr, log="")


class Cases:
    """A module's cases, run together on first use (or each alone: VALIDATION_BATCH=0)."""

    def __init__(self, workdir: Path, role: str, cases: dict[str, dict[str, Any]],
                 groups: dict[str, Any] | None = None) -> None:
        self.workdir, self.role, self.cases, self.groups = workdir, role, cases, groups
        self.outcomes: dict[str, Outcome] = {}

    def __getitem__(self, name: str) -> Outcome:
        if name not in self.outcomes:
            if BATCH and not needs_own_run(self.cases[name]):
                batch = {n: v for n, v in self.cases.items() if not needs_own_run(v)}
                self.outcomes.update(run_cases(self.workdir / "batch", self.role, batch, self.groups))
            else:
                workdir = self.workdir / f"case-{list(self.cases).index(name)}"
                self.outcomes.update(run_cases(workdir, self.role, {name: self.cases[name]}, self.groups))
        return self.outcomes[name]


def case_vars(good: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``good`` changed by ``override``; a None value removes the variable ("missing", not "empty")."""
    return {k: v for k, v in {**good, **override}.items() if v is not None}


def check_refused_early(outcome: Outcome, case: str, variable: str) -> None:
    """The case's host was refused before any host change, with a message naming ``variable``."""
    assert outcome.failed, outcome.tail()
    assert variable in outcome.text, outcome.tail()
    assert not any(m in outcome.text for m in PAST_VALIDATION), (
        f"{case}: validation let the value through: " + outcome.tail())


def check_passes_validation(outcome: Outcome) -> None:
    """Control: the case's host got past validation and failed only later."""
    assert outcome.failed, outcome.tail()
    assert any(m in outcome.text for m in PAST_VALIDATION), outcome.tail()
