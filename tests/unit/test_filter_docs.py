"""Every filter of the collection is documented for ansible-doc, from its code (scripts/filter_docs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import filter_docs
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_documentation_is_in_sync() -> None:
    """A new, renamed or re-documented filter needs `scripts/filter_docs.py`."""
    assert filter_docs.main(["--check"]) == 0


def test_every_filter_has_documentation_examples_and_return() -> None:
    names = filter_docs.filters()
    assert len(names) >= 40 and "session_pki_san_list" in names
    for name in names:
        data = yaml.safe_load((ROOT / "plugins/filter" / f"{name}.yml").read_text())
        assert data["DOCUMENTATION"]["name"] == name and data["DOCUMENTATION"]["short_description"]
        assert f"hardened.sessions.{name}" in data["EXAMPLES"], f"{name}: no call in a role or playbook"
        assert data["RETURN"]["_value"]["description"]


def test_ansible_doc_shows_every_filter() -> None:
    """What issue 25 found: `ansible-doc -t filter hardened.sessions.session_pki_san_list` failed."""
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())}
    names = [f"hardened.sessions.{name}" for name in filter_docs.filters()]
    result = subprocess.run([str(BIN / "ansible-doc"), "-t", "filter", "--json", *names], capture_output=True,
                            text=True, cwd=ROOT, env=env, check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    docs = json.loads(result.stdout)
    assert sorted(name for name, doc in docs.items() if doc and doc.get("doc")) == sorted(names)
