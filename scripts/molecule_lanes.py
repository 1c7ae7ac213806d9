#!/usr/bin/env python3
"""Run molecule scenarios in parallel lanes (``make molecule``; CI's molecule step).

Each lane runs its scenarios one after the other (``molecule test -s NAME``), each
scenario's output going to ``LOGDIR/NAME.log``. Scenarios are dealt to the lanes
longest first (``ESTIMATE_MIN``, measured on an idle 2-CPU machine) so the lanes
end together. The scenarios use distinct container names, networks and published
ports, so they can share the Docker engine.

The summary comes last, after every lane ended: for each failed scenario the end
of its log and the lines around its failures, then each scenario's result and
duration, and last the failing tests and tasks themselves (a few lines each) —
a CI page that keeps only the end of the output still names what failed.

    molecule_lanes.py --lanes 2 --log-dir .molecule-logs redis postgresql app
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Minutes per scenario, idle 2-CPU machine, one scenario at a time (README: CI budget). Only their
# ratios matter; 2026-12-07, two lanes: app 40, postgresql-ha 35 (replace and roll drills), redis-ha 23
# (roll drill), redis 13, postgresql 10 minutes loaded (about 1.5 times these).
ESTIMATE_MIN = {"app": 28.0, "postgresql-ha": 26.0, "redis-ha": 14.0, "postgresql": 6.5, "redis": 8.0}
DEFAULT_ESTIMATE = 10.0
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# The lines that say why a scenario failed: Ansible's failures, pytest's.
FAILURE_RE = re.compile(r"fatal: \[|FAILED!|^\s*(?:│\s*)?(?:FAILED|ERROR) |\[ERROR\]|ERROR\s+Ansible return code|"
                        r"AssertionError|assertion:|msg:")
# The one-line names of what failed: a pytest test (raw, or an item of the verify role's per-control
# list: "- FAILED  test_x[...]"), an Ansible task.
WRAPPED_RE = re.compile(r"^(?:- )?['\"]?(?:FAILED|ERROR)\s*$")
KEY_RE = re.compile(r"^(?:- )?['\"]?(?:FAILED|ERROR)\s+test_\w+|^fatal: \[")


@dataclass
class Result:
    """One scenario's outcome."""

    scenario: str
    lane: int
    returncode: int
    seconds: float
    log: Path


def deal(scenarios: list[str], lanes: int) -> list[list[str]]:
    """Scenarios dealt to ``lanes`` lanes, longest first, each to the lane that ends soonest.

    Within a lane the order of ``scenarios`` is kept."""
    loads = [0.0] * max(1, lanes)
    assigned: list[list[str]] = [[] for _ in loads]
    for name in sorted(scenarios, key=lambda s: -ESTIMATE_MIN.get(s, DEFAULT_ESTIMATE)):
        lane = loads.index(min(loads))
        assigned[lane].append(name)
        loads[lane] += ESTIMATE_MIN.get(name, DEFAULT_ESTIMATE)
    order = {name: i for i, name in enumerate(scenarios)}
    return [sorted(lane, key=order.__getitem__) for lane in assigned if lane]


def failure_excerpt(text: str, context: int = 6, limit: int = 120, tail: int = 40) -> list[str]:
    """The end of a scenario's log (colour removed), then the lines around each failure marker."""
    lines = [ANSI_RE.sub("", line) for line in text.splitlines()]
    keep: set[int] = set()
    for i, line in enumerate(lines):
        if FAILURE_RE.search(line):
            keep.update(range(max(0, i - 2), min(len(lines), i + context)))
    excerpt = [lines[i] for i in sorted(keep)][-limit:]
    return ["    [...] end of the log:", *lines[-tail:], "    [...] the lines around its failures:", *excerpt]


def key_failures(text: str, limit: int = 10, width: int = 160) -> list[str]:
    """What failed, a line each: pytest's FAILED/ERROR test lines, Ansible's fatal tasks (the last ``limit``)."""
    lines = [ANSI_RE.sub("", line).strip(" │") for line in text.splitlines()]
    found: list[str] = []
    for i, line in enumerate(lines):
        if WRAPPED_RE.match(line) and i + 1 < len(lines):  # the callback wrapped the test name to the next line
            line = f"{line} {lines[i + 1]}"
        if KEY_RE.search(line):
            task = next((lines[j] for j in range(i - 1, max(-1, i - 30), -1) if lines[j].startswith("TASK [")), "")
            entry = f"{task} {line}" if line.startswith("fatal:") and task else line
            if entry[:width] not in found:
                found.append(entry[:width])
    return found[-limit:]


def run_lane(lane: int, scenarios: list[str], molecule: str, log_dir: Path, results: list[Result],
             lock: threading.Lock, delay: float = 0.0) -> None:
    """Run one lane's scenarios in order; every scenario runs even when one failed before it.

    ``delay``: seconds to wait first, so the lanes' first ``create`` steps (which set up the
    shared Docker network) do not race."""
    time.sleep(delay)
    for name in scenarios:
        log = log_dir / f"{name}.log"
        start = time.monotonic()
        with lock:
            print(f">> lane {lane}: molecule test -s {name} (log: {log})", flush=True)
        with log.open("w") as out:
            code = subprocess.call([molecule, "test", "-s", name], stdout=out, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - start
        with lock:
            results.append(Result(name, lane, code, seconds, log))
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(f">> molecule scenario {name} {verdict} in {seconds:.0f} s", flush=True)


def summary(results: list[Result], scenarios: list[str]) -> tuple[list[str], bool]:
    """The closing report and whether every scenario passed."""
    by_name = {r.scenario: r for r in results}
    failed = [by_name[n] for n in scenarios if n in by_name and by_name[n].returncode != 0]
    lines: list[str] = []
    for r in failed:
        lines += ["", f">> {r.scenario} failed: the end of {r.log}, then the lines around its failures"]
        lines += ["   " + line for line in failure_excerpt(r.log.read_text(errors="replace"))]
    lines += ["", ">> molecule scenarios:"]
    for name in scenarios:
        one = by_name.get(name)
        lines.append(f"   {name:<15} " + ("not run" if one is None else
                                           f"{'passed' if one.returncode == 0 else 'FAILED':<7} "
                                           f"{one.seconds / 60:5.1f} min  (lane {one.lane})"))
    for r in failed:
        lines.append(f">> {r.scenario}: what failed")
        lines += ["   " + line for line in key_failures(r.log.read_text(errors="replace"))]
    ok = not failed and len(by_name) == len(scenarios)
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--log-dir", type=Path, default=Path(".molecule-logs"))
    parser.add_argument("--molecule", default="molecule")
    parser.add_argument("--stagger", type=float, default=30.0, help="seconds between the lanes' starts")
    parser.add_argument("scenarios", nargs="+")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    lanes = deal(args.scenarios, args.lanes)
    print(">> molecule lanes: " + " | ".join(", ".join(lane) for lane in lanes), flush=True)
    results: list[Result] = []
    lock = threading.Lock()
    start = time.monotonic()
    threads = [threading.Thread(target=run_lane,
                                args=(i + 1, lane, args.molecule, args.log_dir, results, lock, i * args.stagger))
               for i, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines, ok = summary(results, args.scenarios)
    lines.append(f">> molecule: {'all passed' if ok else 'FAILED'} in {(time.monotonic() - start) / 60:.1f} min")
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
