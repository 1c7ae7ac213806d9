"""Every command in the README runs as written (issue 25: the collection commands lacked --vault-id).

Each ``sh`` block is extracted and parsed by ``bash -n``; every ``ansible-playbook`` command runs
with ``--syntax-check`` (its vault ``@prompt`` answered by the example password file, the user's copy of
an example inventory read from the checkout's), and one on an example inventory must say ``--vault-id``;
``make`` targets exist in the Makefile; a path of the collection or the repository the commands name exists
(and ships, for the installed collection); every ``yaml`` block parses.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import collection_test as ct
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text()
INSTALLED = "collections/ansible_collections/hardened/sessions/"
# The user's copy of an example (README, first section) -> the example in the checkout.
COPIES = {"inventories-staging": "inventories/staging", "inventories-production": "inventories/production"}
VAULT_IDS = {"inventories/staging": "staging", "inventories/production": "prod"}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"(?ms)^[ \t]*```{lang}\n(.*?)^[ \t]*```", README)


def commands() -> list[list[str]]:
    """The commands of every sh block, continuation lines joined, comments dropped."""
    found = []
    for block in _blocks("sh"):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                found.append(argv)
    return found


def test_the_sh_blocks_parse() -> None:
    blocks = _blocks("sh")
    assert len(blocks) > 10
    for block in blocks:
        result = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{block}\n{result.stderr}"


def test_the_yaml_blocks_parse() -> None:
    for block in _blocks("yaml"):
        assert yaml.safe_load(block) is not None, block


def test_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = {argv[1] for argv in commands() if argv[0] == "make" and len(argv) > 1}
    assert {"release", "lab", "test"} <= named
    assert named <= targets, named - targets


def test_named_paths_exist() -> None:
    """Paths inside the installed collection must ship; paths of the repository must exist."""
    for argv in commands():
        for arg in argv[1:]:
            if arg.startswith(INSTALLED):
                rel = arg.removeprefix(INSTALLED)
                assert (ROOT / rel).exists() and not ct.build_ignored(rel), arg
            elif re.match(r"(playbooks|scripts|inventories|roles)/", arg) or arg.startswith(".venv/bin/"):
                assert (ROOT / arg).exists(), arg


def _playbook_runs() -> dict[tuple[str, ...], list[str]]:
    """ansible-playbook commands by (inventory, vault id): their playbooks."""
    runs: dict[tuple[str, ...], list[str]] = {}
    for argv in commands():
        if argv[0] != "ansible-playbook":
            continue
        inventory = COPIES.get(argv[argv.index("-i") + 1], argv[argv.index("-i") + 1])
        assert "--vault-id" in argv, f"{shlex.join(argv)}: {inventory} has a vault; say --vault-id"
        label = argv[argv.index("--vault-id") + 1].split("@", 1)[0]
        assert label == VAULT_IDS[inventory], shlex.join(argv)
        playbook = next(a for a in argv[1:] if a.endswith(".yml") or a.startswith("hardened.sessions."))
        runs.setdefault((inventory, label), [])
        if playbook not in runs[(inventory, label)]:
            runs[(inventory, label)].append(playbook)
    return runs


def test_ansible_vault_commands_name_the_vault_id() -> None:
    vault = [argv for argv in commands() if argv[0] == "ansible-vault"]
    assert vault
    assert all("--vault-id" in argv for argv in vault), vault


def test_every_ansible_playbook_command_passes_the_syntax_check() -> None:
    runs = _playbook_runs()
    assert ("inventories/staging", "staging") in runs and ("inventories/production", "prod") in runs
    assert "hardened.sessions.site" in runs[("inventories/staging", "staging")]
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "PATH": f"{BIN}:/usr/bin:/bin",
           "HOME": str(Path.home())}
    for (inventory, label), playbooks in runs.items():
        password = f"{label}@{ROOT / inventory / 'vault-pass.example.txt'}"
        result = subprocess.run([str(BIN / "ansible-playbook"), "-i", inventory, "--vault-id", password,
                                 "--syntax-check", *playbooks], capture_output=True, text=True, cwd=ROOT, env=env,
                                check=False, timeout=300)
        assert result.returncode == 0, f"{inventory} {playbooks}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
