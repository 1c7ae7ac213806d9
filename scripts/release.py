#!/usr/bin/env python3
"""Check that a release agrees with itself: `make release`.

Version policy (semantic versioning of the collection's public interface: role
variables, playbooks, the documented filters, the shipped suite):
breaking_changes or removed_features since the last release -> next major;
major_changes, minor_changes or deprecated_features -> next minor (at least);
only bugfixes / security_fixes -> next patch.

A release is: every fragment folded into changelogs/changelog.yaml by
``antsibull-changelog release`` (none left in changelogs/fragments/), the
galaxy.yml version that release's (the newest in the changelog, CHANGELOG.md
generated with it), its bump what the policy asks, and the annotated git tag
``v<version>`` on the commit that holds it. Exits non-zero naming every
disagreement; ``--no-tag`` checks all but the tag (before tagging), and the
last line says the command that tags.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MAJOR = {"breaking_changes", "removed_features"}
MINOR = {"major_changes", "minor_changes", "deprecated_features"}


def parse(version: str) -> tuple[int, int, int]:
    """X.Y.Z as numbers (ValueError otherwise: no pre-releases in this kit)."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{version!r} is not X.Y.Z")
    return int(parts[0]), int(parts[1]), int(parts[2])


def required_bump(sections: set[str]) -> str:
    """The smallest bump the policy allows for a release with these changelog sections."""
    return "major" if sections & MAJOR else "minor" if sections & MINOR else "patch"


def bump_of(previous: str, version: str) -> str | None:
    """Which part ``version`` bumps from ``previous`` (None: not exactly one step up)."""
    old, new = parse(previous), parse(version)
    if new == (old[0] + 1, 0, 0):
        return "major"
    if new == (old[0], old[1] + 1, 0):
        return "minor"
    if new == (old[0], old[1], old[2] + 1):
        return "patch"
    return None


def problems(root: Path, tag_commit: str | None, head: str | None, pending_ok: bool = False) -> list[str]:
    """Every disagreement between galaxy.yml, the changelog and (when given) the tag; ``pending_ok``:
    fragments waiting for the next release are no disagreement (between releases)."""
    found = []
    version = str(yaml.safe_load((root / "galaxy.yml").read_text())["version"])
    releases = (yaml.safe_load((root / "changelogs/changelog.yaml").read_text()) or {}).get("releases") or {}
    ordered = sorted(releases, key=parse)
    pending = sorted(p.name for p in (root / "changelogs/fragments").glob("*") if p.suffix in {".yml", ".yaml"})
    if pending and not pending_ok:
        found.append(f"unreleased fragments in changelogs/fragments: {pending} (antsibull-changelog release)")
    if version not in releases:
        found.append(f"galaxy.yml version {version} is not released in changelogs/changelog.yaml")
    elif ordered[-1] != version:
        found.append(f"galaxy.yml says {version}, the newest release in the changelog is {ordered[-1]}")
    else:
        if f'<a id="v{version.replace(".", "-")}"></a>' not in (root / "CHANGELOG.md").read_text():
            found.append(f"CHANGELOG.md lacks {version} (antsibull-changelog generate)")
        if len(ordered) > 1:
            previous = ordered[-2]
            sections = set(releases[version].get("changes") or {})
            need, got = required_bump(sections), bump_of(previous, version)
            rank = ["patch", "minor", "major"]
            if got is None or rank.index(got) < rank.index(need):
                found.append(f"{previous} -> {version} is a {got or 'non-sequential'} step; its changes"
                             f" ({', '.join(sorted(sections))}) ask for a {need} release")
    if tag_commit is not None:
        if not tag_commit:
            found.append(f"no tag v{version}")
        elif tag_commit != head:
            found.append(f"tag v{version} is on {tag_commit[:12]}, not on HEAD {str(head)[:12]}")
    return found


def git(root: Path, *argv: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *argv], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--no-tag", action="store_true", help="check everything but the tag")
    args = parser.parse_args(argv)
    version = str(yaml.safe_load((args.root / "galaxy.yml").read_text())["version"])
    tag_commit = None if args.no_tag else git(args.root, "rev-parse", "--verify", "-q",
                                              f"refs/tags/v{version}^{{commit}}")
    found = problems(args.root, tag_commit, git(args.root, "rev-parse", "HEAD"))
    for problem in found:
        print(f"release: {problem}", file=sys.stderr)
    if found:
        if found == [f"no tag v{version}"]:
            print(f"release: tag it: git tag -a v{version} -m 'hardened.sessions {version}'", file=sys.stderr)
        return 1
    print(f"release: hardened.sessions {version} agrees" + ("" if args.no_tag else f" with tag v{version}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
