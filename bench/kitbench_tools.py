"""Helpers of `make bench`: bounded commands, machine facts, load and memory sampling."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """Outcome of one bounded command."""

    rc: int
    out: str
    err: str
    seconds: float


def run(cmd: Sequence[str], timeout: float, env: Mapping[str, str] | None = None, cwd: Path | None = None,
        stdin: str | None = None) -> Result:
    """Run a command with a hard time limit (rc 124 on timeout, like coreutils' timeout).

    The command runs in its own process group, and a timeout ends the whole group: `make lab` under a
    timeout must not leave its ansible-playbook running."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    start = time.monotonic()
    with subprocess.Popen(list(cmd), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=cwd,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
            return Result(124, out or "", f"timed out after {timeout:.0f}s", time.monotonic() - start)
    return Result(proc.returncode, out, err, time.monotonic() - start)


def docker_exec(container: str, cmd: Sequence[str], timeout: float, env: Mapping[str, str] | None = None,
                user: str | None = None) -> Result:
    """A bounded command inside one of the project's containers (secrets via -e NAME, values from our env)."""
    args = ["docker", "exec"]
    if user:
        args += ["-u", user]
    for key in env or {}:
        args += ["-e", key]
    return run([*args, container, *cmd], timeout, env=env)


def container_running(name: str) -> bool:
    res = run(["docker", "inspect", "-f", "{{.State.Running}}", name], 20)
    return res.rc == 0 and res.out.strip() == "true"


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def machine() -> dict[str, Any]:
    """What the bench ran on: CPU, memory, kernel, load and the other containers running."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    free = run(["free", "-h"], 10).out.strip()
    mem_total = 0
    match = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    if match:
        mem_total = int(match.group(1)) * 1024
    ps = run(["docker", "ps", "--format", "{{.Names}}"], 20).out.split()
    tools: dict[str, str] = {}
    for tool, flag in (("wrk", "--version"), ("redis-benchmark", "--version"), ("pgbench", "--version"),
                       ("docker", "--version")):
        if shutil.which(tool):
            res = run([tool, flag], 10)
            tools[tool] = (res.out or res.err).strip().splitlines()[0] if (res.out or res.err).strip() else ""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_bytes": mem_total,
        "free_h": free,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
        "containers_running": len(ps),
        "other_containers": sorted(n for n in ps if not n.startswith(("lab-", "kit-bench-"))),
        "tools": tools,
    }


@dataclass
class Sampler:
    """Samples the load average and the RSS/PSS of store processes while a phase runs."""

    targets: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (container, process name)
    interval: float = 1.0
    load: list[float] = field(default_factory=list)
    mem: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)  # label -> [(rss, pss, procs)]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.load.append(loadavg()[0])
            for label, (container, proc) in self.targets.items():
                sample = process_memory(container, proc)
                if sample:
                    self.mem.setdefault(label, []).append(sample)
            self._stop.wait(self.interval)


def process_memory(container: str, proc: str) -> tuple[int, int, int] | None:
    """Sum of Rss and Pss (bytes) of every process named `proc` in a container, and their count."""
    script = (
        f"for p in $(pgrep -x {proc}); do grep -E '^(Rss|Pss):' /proc/$p/smaps_rollup 2>/dev/null; "
        "echo P; done"
    )
    res = docker_exec(container, ["sh", "-c", script], 15)
    if res.rc != 0 or "P" not in res.out:
        return None
    rss = sum(int(m) for m in re.findall(r"^Rss:\s+(\d+)", res.out, re.MULTILINE)) * 1024
    pss = sum(int(m) for m in re.findall(r"^Pss:\s+(\d+)", res.out, re.MULTILINE)) * 1024
    return rss, pss, res.out.count("P\n")
