#!/usr/bin/env python3
"""Is the lab unchanged since its last full converge and verification?

`make lab` runs playbooks/lab.yml (hosts, site.yml, the testinfra suite,
summary) and then `lab_state.py record`. On the next `make lab`,
`lab_state.py check` compares a fingerprint of everything the converge
depends on with the recorded one:

* the kit's inputs: every file below ansible.cfg, requirements.*, roles/,
  playbooks/, templates/, inventories/lab/ and plugins/ (the suite is in
  roles/session_verify/files/), and
  KIT_LAB_DISTRO;
* the lab's generated inputs: lab/secrets/* and lab/pki/ca.crt (hashed only);
* the lab containers: id, image, running state and start time (a container
  that was re-created, restarted or stopped is a changed lab).

When they match, `make lab` skips the converge and the suite (they proved
this exact state already) and runs `lab_state.py smoke`: a verified TLS
handshake with the Redis store and a session round trip through every app's
probe (app -> store) over HTTPS. `make lab FULL=1` always converges and
verifies. Drift made inside a container by hand is not seen by the fast
path: run `make lab FULL=1` (or `make test`) after touching a lab host.

    lab_state.py check | record | smoke
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("ansible.cfg", "requirements.txt", "requirements.yml", "roles", "playbooks", "templates",
          "inventories/lab", "plugins")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
ENV_INPUTS = ("KIT_LAB_DISTRO",)


def input_files(root: Path, inputs: Iterable[str] = INPUTS) -> Iterator[Path]:
    """Every input file, sorted, without caches."""
    for name in inputs:
        path = root / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            if not SKIP_PARTS.intersection(candidate.relative_to(root).parts):
                yield candidate


def lab_containers(inventory: Path) -> list[str]:
    """The hosts of the lab_containers group of the lab inventory, sorted."""
    data = yaml.safe_load(inventory.read_text()) or {}

    def hosts(group: dict[str, Any]) -> set[str]:
        found = set((group.get("hosts") or {}).keys())
        for child in (group.get("children") or {}).values():
            found |= hosts(child or {})
        return found

    def find(group: dict[str, Any], name: str) -> dict[str, Any] | None:
        for child_name, child in (group.get("children") or {}).items():
            if child_name == name:
                return child or {}
            hit = find(child or {}, name)
            if hit is not None:
                return hit
        return None

    group = find(data.get("all") or {}, "lab_containers")
    return sorted(hosts(group)) if group is not None else []


def container_states(names: list[str]) -> dict[str, str | None]:
    """id, image, running and start time of each container (None: absent)."""
    states: dict[str, str | None] = {}
    for name in names:
        result = subprocess.run(
            ["docker", "inspect", "--format", "{{.Id}} {{.Image}} {{.State.Running}} {{.State.StartedAt}}", name],
            capture_output=True, text=True, check=False, timeout=30)
        states[name] = result.stdout.strip() if result.returncode == 0 else None
    return states


def fingerprint(root: Path, lab_dir: Path, containers: Mapping[str, str | None],
                env: Mapping[str, str] | None = None) -> str:
    """One hash over the kit's inputs, the lab's secrets and CA, and the container states."""
    env = dict(os.environ) if env is None else env
    digest = hashlib.sha256()
    lab_inputs = sorted(p for p in (lab_dir / "secrets").glob("*") if p.is_file())
    if (lab_dir / "pki" / "ca.crt").is_file():
        lab_inputs.append(lab_dir / "pki" / "ca.crt")
    for path in [*input_files(root), *lab_inputs]:
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key in ENV_INPUTS:
        digest.update(f"{key}={env.get(key, '')}\0".encode())
    digest.update(json.dumps(containers, sort_keys=True).encode())
    return digest.hexdigest()


def current(root: Path, lab_dir: Path) -> tuple[str, dict[str, str | None]]:
    containers = container_states(lab_containers(root / "inventories" / "lab" / "hosts.yml"))
    return fingerprint(root, lab_dir, containers), containers


def check(root: Path, lab_dir: Path) -> tuple[bool, str]:
    """(unchanged, reason)."""
    state_file = lab_dir / ".state.json"
    if not state_file.is_file() or not (lab_dir / "endpoints.json").is_file():
        return False, "no record of a verified converge"
    recorded = json.loads(state_file.read_text())
    value, containers = current(root, lab_dir)
    # state: "<id> <image> <running> <started at>"
    down = [name for name, state in containers.items() if state is None or state.split()[2] != "true"]
    if down:
        return False, f"containers absent or stopped: {', '.join(down)}"
    if value != recorded.get("fingerprint"):
        return False, "inputs or containers changed since the last verified converge"
    return True, f"unchanged since the verified converge of {recorded.get('recorded_at', '?')}"


def record(root: Path, lab_dir: Path) -> None:
    value, containers = current(root, lab_dir)
    state_file = lab_dir / ".state.json"
    state_file.write_text(json.dumps({"fingerprint": value, "containers": containers,
                                      "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n")
    state_file.chmod(0o600)


def smoke(lab_dir: Path) -> list[str]:
    """Failures of the quick liveness checks (empty: all good)."""
    endpoints = json.loads((lab_dir / "endpoints.json").read_text())
    failures: list[str] = []
    redis = endpoints.get("redis")
    if redis:
        context = ssl.create_default_context(cafile=redis["ca_cert"])
        if redis.get("client_cert"):
            context.load_cert_chain(redis["client_cert"], redis["client_key"])
        # The primary, and in an HA group every node and Sentinel.
        targets = [("redis", redis["host"], int(redis["port"]))]
        for kind in ("nodes", "sentinels"):
            targets += [(f"redis {kind} {n['container']}", n["host"], int(n["port"])) for n in redis.get(kind) or []]
        for label, host, port in targets:
            try:
                with socket.create_connection((host, port), timeout=10) as raw, \
                        context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(b"PING\r\n")
                    reply = tls.recv(256)
                if not reply.startswith(b"-NOAUTH"):
                    failures.append(f"{label}: unauthenticated PING answered {reply[:60]!r}, expected NOAUTH")
            except OSError as error:
                failures.append(f"{label}: {error}")
    for store, app in sorted((endpoints.get("apps") or {}).items()):
        context = ssl.create_default_context(cafile=app["ca_cert"])
        try:
            with urllib.request.urlopen(app["url"].rstrip("/") + "/probe/session", context=context,
                                        timeout=15) as response:
                body = json.loads(response.read())
            if not body.get("id") or body.get("count") != 1:
                failures.append(f"app {store}: unexpected probe answer {body}")
        except (OSError, ValueError) as error:
            failures.append(f"app {store}: {error}")
    prometheus = endpoints.get("prometheus")
    if prometheus:
        failures += prometheus_failures(prometheus["url"])
    return failures


def prometheus_failures(url: str) -> list[str]:
    """The lab's Prometheus: every active scrape target up (its API on the published loopback port)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v1/targets?state=active", timeout=15) as response:
            targets = json.loads(response.read())["data"]["activeTargets"]
    except (OSError, ValueError, KeyError) as error:
        return [f"prometheus: {error}"]
    if not targets:
        return ["prometheus: no active scrape target"]
    return [f"prometheus target {t['labels'].get('instance')}: {t['health']} {t.get('lastError', '')}".rstrip()
            for t in targets if t["health"] != "up"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("check", "record", "smoke"))
    parser.add_argument("--lab-dir", type=Path, default=ROOT / "lab")
    args = parser.parse_args(argv)
    if args.action == "record":
        record(ROOT, args.lab_dir)
        return 0
    if args.action == "check":
        unchanged, reason = check(ROOT, args.lab_dir)
        print(f">> lab: {reason}")
        return 0 if unchanged else 1
    failures = smoke(args.lab_dir)
    for failure in failures:
        print(f"SMOKE FAILED  {failure}", file=sys.stderr)
    if not failures:
        print(">> lab smoke check passed: Redis TLS (NOAUTH without credentials), "
              "every app's probe round trip through its store, "
              "every Prometheus target up")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
