"""bench/kitbench_tools.run: bounded commands leave nothing running behind them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from kitbench_tools import run


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (reparented, not yet reaped) has ended too.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_timeout_ends_the_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # A shell (the `make`) whose child (the `ansible-playbook`) outlives the limit.
    res = run(["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=1)
    assert res.rc == 124
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


def test_output_and_rc_within_the_limit() -> None:
    res = run(["bash", "-c", "cat; echo err >&2; exit 3"], timeout=10, stdin="in\n")
    assert (res.rc, res.out, res.err) == (3, "in\n", "err\n")
