#!/usr/bin/env python3
"""Session requests through apps in a loop, until a stop file appears (rotation under load).

    session_load.py --ca CA --stop FILE --out JSON [--max-seconds N] URL...

Each URL is an app's /probe/session (cookie name from --cookie NAME per URL, same order).
One session per URL, then that session again and again, round-robin. A request fails when
it raises, answers anything but 200, or does not continue the session (another id, or a
count that is not the previous one + 1). Bounded: stops at the stop file or after
--max-seconds. Writes the figures as JSON (requests, failures, seconds, first errors, and each
URL's session: id and count), the failure windows (failures less than WINDOW_GAP seconds apart
form one window: [start, end, failures]) and the regressions: answers whose count was not above
the last acknowledged one (an acknowledged write lost). The CA file is read again whenever it changes, as a client whose
trust store the operator updates during a CA rollover.
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any


def fetch(url: str, context: ssl.SSLContext, cookie: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, context=context, timeout=10) as reply:
        return reply.status, json.loads(reply.read())


class Trust:
    """A verifying client context, rebuilt when the CA file changes."""

    def __init__(self, cafile: Path) -> None:
        self.cafile = cafile
        self.stamp = (0, 0)
        self.context = ssl.create_default_context()
        self.reloads = -1
        self.refresh()

    def refresh(self) -> ssl.SSLContext:
        info = self.cafile.stat()
        if (info.st_mtime_ns, info.st_size) != self.stamp:
            self.context = ssl.create_default_context(cafile=str(self.cafile))
            self.stamp = (info.st_mtime_ns, info.st_size)
            self.reloads += 1
        return self.context


WINDOW_GAP = 3.0  # seconds between two failures that still count as one outage window


def windows(times: list[float], gap: float = WINDOW_GAP) -> list[list[float]]:
    """Failure times (ascending) merged into windows: [start, end, failures]; a gap over ``gap`` s starts a new one."""
    out: list[list[float]] = []
    for t in times:
        if out and t - out[-1][1] <= gap:
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1])
    return [[round(a, 1), round(b, 1), int(n)] for a, b, n in out]


def run(urls: list[str], cookies: list[str], trust: Trust, stop: Path, max_seconds: float,
        started: Path) -> dict[str, Any]:
    state: dict[str, tuple[str, int] | None] = dict.fromkeys(urls)
    per_url = {url: {"requests": 0, "failures": 0} for url in urls}
    errors: list[str] = []
    failed_at: list[float] = []
    regressions = 0
    begin = time.monotonic()
    while not stop.exists() and time.monotonic() - begin < max_seconds:
        for url, name in zip(urls, cookies, strict=True):
            current = state[url]
            per_url[url]["requests"] += 1
            try:
                status, body = fetch(url, trust.refresh(), f"{name}={current[0]}" if current else None)
                if status != 200:
                    raise ValueError(f"HTTP {status}")
                if current and body.get("id") == current[0] and int(body.get("count", 0)) <= current[1]:
                    regressions += 1
                if current and (body.get("id") != current[0] or body.get("count") != current[1] + 1):
                    raise ValueError(f"session not continued: count {body.get('count')} after {current[1]}")
                state[url] = (str(body["id"]), int(body["count"]))
            except Exception as exc:  # every failure is counted, the loop goes on
                per_url[url]["failures"] += 1
                failed_at.append(time.monotonic() - begin)
                if len(errors) < 10:
                    errors.append(f"{time.monotonic() - begin:.1f}s {url}: {type(exc).__name__}: {exc}")
        started.touch()
        time.sleep(0.05)
    return {"requests": sum(u["requests"] for u in per_url.values()),
            "failures": sum(u["failures"] for u in per_url.values()),
            "seconds": round(time.monotonic() - begin, 1), "per_url": per_url, "errors": errors,
            "sessions": {url: {"id": s[0], "count": s[1]} if s else None for url, s in state.items()},
            "ca_reloads": trust.reloads, "failure_windows": windows(failed_at), "regressions": regressions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca", required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--cookie", action="append", required=True)
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()
    figures = run(args.urls, args.cookie, Trust(Path(args.ca)), args.stop, args.max_seconds,
                  args.out.with_name(args.out.name + ".started"))
    # Atomic: the side effect waits for this file to exist.
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(json.dumps(figures, indent=2) + "\n")
    partial.replace(args.out)


if __name__ == "__main__":
    main()
