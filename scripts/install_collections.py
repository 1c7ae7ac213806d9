#!/usr/bin/env python3
"""Install the collections pinned in requirements.yml into a project-local path.

Galaxy is not reachable from every build machine, PyPI is: the pinned
``ansible`` community package carries every collection we use. This script
downloads that wheel once (cached), extracts only the pinned collections and
refuses a version that differs from the pin. The dependencies of those
collections (their MANIFEST.json, transitively) come from the same package,
checked against the range that asks for them: ``ansible-galaxy collection
install --offline`` of a collection then finds every dependency in DEST. A
stamp file makes re-runs free.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Pin:
    """One collection pinned in requirements.yml."""

    name: str
    version: str

    @property
    def path(self) -> str:
        namespace, collection = self.name.split(".", 1)
        return f"ansible_collections/{namespace}/{collection}"


def read_requirements(path: Path) -> list[Pin]:
    """Return the collection pins of a requirements file."""
    data = yaml.safe_load(path.read_text()) or {}
    pins = []
    for entry in data.get("collections", []):
        name, version = entry.get("name"), entry.get("version")
        if not name or "." not in name or not version:
            raise ValueError(f"{path}: every collection needs name (ns.coll) and version: {entry!r}")
        pins.append(Pin(str(name), str(version)))
    if not pins:
        raise ValueError(f"{path}: no collections listed")
    return pins


def manifest_version(wheel: zipfile.ZipFile, pin: Pin) -> str:
    """Version of a collection as recorded in its MANIFEST.json inside the wheel."""
    try:
        raw = wheel.read(f"{pin.path}/MANIFEST.json")
    except KeyError as exc:
        raise LookupError(f"{pin.name} is not in the source package") from exc
    return str(json.loads(raw)["collection_info"]["version"])


def manifest_dependencies(wheel: zipfile.ZipFile, pin: Pin) -> dict[str, str]:
    """The dependencies (name -> version range) a collection in the wheel declares."""
    raw = json.loads(wheel.read(f"{pin.path}/MANIFEST.json"))
    return {str(k): str(v) for k, v in (raw["collection_info"].get("dependencies") or {}).items()}


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0].split("+", 1)[0])[:3])


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` is in an ansible-galaxy range such as ``>=1.0.0,<2.0.0`` or ``*``."""
    ops = {">=": tuple.__ge__, ">": tuple.__gt__, "<=": tuple.__le__, "<": tuple.__lt__,
           "!=": tuple.__ne__, "==": tuple.__eq__, "": tuple.__eq__}
    for clause in spec.split(","):
        clause = clause.strip()
        if clause in {"", "*"}:
            continue
        match = re.fullmatch(r"(>=|>|<=|<|!=|==|)\s*([\w.+-]+)", clause)
        if not match:
            raise ValueError(f"unsupported version range {spec!r}")
        if not ops[match[1]](_numbers(version), _numbers(match[2])):
            return False
    return True


def with_dependencies(wheel: zipfile.ZipFile, pins: list[Pin]) -> list[tuple[Pin, str]]:
    """The pins, then every collection they need transitively, each with why it is there.

    A dependency that is pinned must satisfy the range; one that is not is taken at the version the
    package carries, refused (LookupError/ValueError) when absent or outside the range."""
    chosen: dict[str, tuple[Pin, str]] = {pin.name: (pin, "requirements.yml") for pin in pins}
    queue = list(pins)
    while queue:
        parent = queue.pop(0)
        for name, spec in sorted(manifest_dependencies(wheel, parent).items()):
            dep = chosen[name][0] if name in chosen else Pin(name, manifest_version(wheel, Pin(name, "*")))
            if not satisfies(dep.version, spec):
                raise ValueError(f"{parent.name} needs {name} {spec}, found {dep.version}")
            if name not in chosen:
                chosen[name] = (dep, f"dependency of {parent.name}")
                queue.append(dep)
    return list(chosen.values())


def extract(wheel: zipfile.ZipFile, pin: Pin, dest: Path) -> None:
    """Extract one collection tree from the wheel into dest (replacing any old copy)."""
    target = dest / pin.path
    if target.exists():
        shutil.rmtree(target)
    prefix = pin.path + "/"
    for member in wheel.infolist():
        if member.filename.startswith(prefix) and not member.is_dir():
            wheel.extract(member, dest)


def fetch_wheel(source: str, cache: Path, python: str) -> Path:
    """Download the pinned source wheel into the cache (no-op when present)."""
    name, version = source.split("==", 1)
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [python, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(cache), source],
        check=True,
    )
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip did not deliver {source} into {cache}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default="ansible==12.3.0",
                        help="pinned PyPI package carrying the collections")
    parser.add_argument("--requirements", type=Path, default=Path("requirements.yml"))
    parser.add_argument("--dest", type=Path, default=Path("collections"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/kit/wheels")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)

    source = args.source
    if "==" not in source:
        parser.error("--source must pin a version, e.g. ansible==12.3.0")
    pins = read_requirements(args.requirements)
    stamp = args.dest / ".installed"
    # "+deps": copies made before the transitive dependencies were extracted are redone.
    digest = hashlib.sha256(args.requirements.read_bytes() + source.encode() + b"+deps").hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return 0

    wheel_path = fetch_wheel(source, args.cache, args.python)
    with zipfile.ZipFile(wheel_path) as wheel:
        for pin in pins:
            found = manifest_version(wheel, pin)
            if found != pin.version:
                print(f"{pin.name}: {source} carries {found}, requirements.yml pins {pin.version}",
                      file=sys.stderr)
                return 1
        try:
            wanted = with_dependencies(wheel, pins)
        except (LookupError, ValueError) as exc:
            print(f"{source}: {exc}", file=sys.stderr)
            return 1
        for pin, why in wanted:
            extract(wheel, pin, args.dest)
            print(f">> {pin.name} {pin.version} ({why})")
    stamp.write_text(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
