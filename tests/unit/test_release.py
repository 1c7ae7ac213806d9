"""`make release` (scripts/release.py): galaxy.yml, the changelog and the git tag agree, per the version policy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import release
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _repo(path: Path, version: str, releases: dict[str, set[str]], fragments: tuple[str, ...] = ()) -> Path:
    (path / "changelogs/fragments").mkdir(parents=True)
    (path / "galaxy.yml").write_text(yaml.safe_dump({"namespace": "hardened", "name": "sessions", "version": version}))
    changes = {v: {"changes": {s: ["x"] for s in sections}, "release_date": "2026-12-07"}
               for v, sections in releases.items()}
    (path / "changelogs/changelog.yaml").write_text(yaml.safe_dump({"ancestor": None, "releases": changes}))
    (path / "CHANGELOG.md").write_text("".join(f'<a id="v{v.replace(".", "-")}"></a>\n' for v in releases))
    for name in fragments:
        (path / "changelogs/fragments" / name).write_text("---\nbugfixes: [x]\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], check=True)
    return path


def _tag(path: Path, tag: str) -> None:
    subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@localhost",
                    "tag", "-a", tag, "-m", tag], check=True)


def test_a_tagged_release_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path, "2.0.0", {"1.0.0": {"major_changes"}, "2.0.0": {"breaking_changes", "bugfixes"}})
    assert release.main(["--root", str(repo)]) == 1
    assert "git tag -a v2.0.0" in capsys.readouterr().err
    assert release.main(["--root", str(repo), "--no-tag"]) == 0
    _tag(repo, "v2.0.0")
    assert release.main(["--root", str(repo)]) == 0


def test_a_tag_on_another_commit_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "1.0.0", {"1.0.0": {"minor_changes"}})
    _tag(repo, "v1.0.0")
    (repo / "x").write_text("later\n")
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qam",
                    "x", "--allow-empty"], check=True)
    found = release.problems(repo, release.git(repo, "rev-parse", "v1.0.0^{commit}"), release.git(repo, "rev-parse",
                                                                                                  "HEAD"))
    assert len(found) == 1 and "not on HEAD" in found[0]


@pytest.mark.parametrize(("version", "releases", "fragments", "expected"), [
    # galaxy.yml bumped, antsibull-changelog release not run: two trees would both be "2.0.0"
    ("2.0.0", {"1.0.0": {"minor_changes"}}, ("fix.yml",), ["unreleased fragments", "not released"]),
    # released but galaxy.yml left behind
    ("1.0.0", {"1.0.0": {"minor_changes"}, "1.1.0": {"minor_changes"}}, (),
     ["newest release in the changelog is 1.1.0"]),
    # breaking changes in a minor release
    ("1.1.0", {"1.0.0": {"minor_changes"}, "1.1.0": {"breaking_changes"}}, (), ["ask for a major release"]),
    # a skipped number
    ("1.2.0", {"1.0.0": {"minor_changes"}, "1.2.0": {"minor_changes"}}, (), ["non-sequential"]),
])
def test_disagreements_are_named(tmp_path: Path, version: str, releases: dict[str, set[str]],
                                 fragments: tuple[str, ...], expected: list[str]) -> None:
    found = release.problems(_repo(tmp_path, version, releases, fragments), None, None)
    assert len(found) == len(expected)
    assert all(text in problem for text, problem in zip(expected, found, strict=True)), found


@pytest.mark.parametrize(("sections", "bump"), [
    ({"breaking_changes", "bugfixes"}, "major"), ({"removed_features"}, "major"),
    ({"minor_changes", "bugfixes"}, "minor"), ({"deprecated_features"}, "minor"), ({"bugfixes"}, "patch"),
    ({"security_fixes", "release_summary"}, "patch")])
def test_the_version_policy(sections: set[str], bump: str) -> None:
    assert release.required_bump(sections) == bump


def test_this_checkout_is_released_but_for_the_tag() -> None:
    """galaxy.yml, changelog.yaml and CHANGELOG.md of this checkout agree (fragments merged since are the next
    release's; `make release` refuses them)."""
    assert release.problems(ROOT, None, None, pending_ok=True) == []
