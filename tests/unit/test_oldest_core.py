"""What the oldest supported ansible-core (2.17, meta/runtime.yml) templates differently from 2.19.

`make collection-test` proves the kit on it (validate, render test); these catch the two patterns it
found before a run: a backslash-escaped quote inside a Jinja string literal (2.17: a template syntax
error) and numbers Patroni needs built from nested "{{ x | int }}" (2.17: strings).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_no_escaped_quote_inside_a_jinja_string() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{n}" for top in ("roles", "playbooks") for p in (ROOT / top).rglob("*.yml")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if not line.lstrip().startswith("#") and re.search(r"\(\s*'[^)]*\\'", line)]
    assert not offenders


def test_the_unsafe_characters_are_plain_yaml() -> None:
    proxy = yaml.safe_load((ROOT / "roles/redis_session_proxy/vars/main.yml").read_text())
    etcd = yaml.safe_load((ROOT / "roles/etcd_session_dcs/vars/main.yml").read_text())
    assert proxy["_redis_session_proxy_cfg_unsafe"] == " #\"'"
    assert etcd["_etcd_session_dcs_env_unsafe"] == " \"'#=$`\\"


def test_patroni_numbers_come_from_one_expression() -> None:
    dcs = yaml.safe_load((ROOT / "roles/postgresql_session_store/vars/main.yml").read_text())[
        "_postgresql_session_store_ha_dcs"]
    assert isinstance(dcs, str) and dcs.startswith("{{ {") and dcs.count("{{") == 1
    for key in ("ttl", "loop_wait", "retry_timeout", "max_connections"):
        assert re.search(rf"'{key}': \w+ \| int", dcs), key
