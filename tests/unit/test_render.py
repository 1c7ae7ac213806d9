"""Every server-configuration template renders with the example inventories' values.

tests/unit/validation/render.yml runs each role's validation on an example
inventory (every host reached locally, the stand-in secrets of
test_inventories) and renders every template of every role for every host,
on Debian 12 and 13 where the roles' variables differ. A template that does
not render (undefined variable, filter error) fails the playbook; what it
renders must pass the cheap checks of render_checks.py, the ones that catch
a file the server would refuse (field counts, directives without a value, unbalanced
braces, YAML Patroni cannot read, settings PostgreSQL does not know).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from render_checks import CHECKS, problems_of
from test_inventories import STAND_INS, run_locally
from test_monitor_render import MONITOR_FILES

ROOT = Path(__file__).resolve().parents[2]
RENDER = Path(__file__).parent / "validation" / "render.yml"
RELEASES = ("12", "13")

# What each kind of host renders (the template's name without .j2).
REDIS = ["redis.conf", "users.acl", "openssl.cnf", "hardening.conf", "load-scripts.sh", "acl-apply.sh"]
REDIS_HA = ["sentinel.conf", "sentinel-hardening.conf"]
# The exporters' files (metrics_enabled; rendered on every store host with a stand-in password).
REDIS_METRICS = ["prometheus-redis-exporter.env", "prometheus-redis-exporter.conf"]
PG_METRICS = ["prometheus-postgres-exporter.env", "prometheus-postgres-exporter.conf", "postgres-exporter-queries.yml",
              "postgres-exporter-web.yml"]
PG_SINGLE = ["postgresql.conf", "pg_hba.conf"]
PG_HA = ["patroni.yml"]
PG_GC = ["postgresql-session-gc.service", "postgresql-session-gc.timer"]
ETCD = ["session-dcs.env", "session-dcs.conf"]
APP_HOST = ["nginx-default.conf", "fpm-global.conf", "fpm-opcache.ini", "cli-session.ini"]
PER_APP = ["session.php", "pool.conf", "nginx-app.conf"]
PROXY = ["haproxy.cfg"]
APPS = ("shop", "ledger")


def _per_release(names: list[str], releases: tuple[str, ...] = RELEASES) -> set[str]:
    return {f"debian{r}/{n}" for r in releases for n in names}


def _app_files(releases: tuple[str, ...]) -> set[str]:
    return _per_release(APP_HOST, releases) | {f"debian{r}/{a}/{n}" for r in releases for a in APPS for n in PER_APP}


# Host name prefix -> the files rendered for it.
EXPECTED: dict[str, dict[str, set[str]]] = {
    # HA everywhere: Sentinel, Patroni + etcd, HAProxy on the app hosts.
    "production": {
        "redis": _per_release(REDIS + REDIS_HA + REDIS_METRICS),
        "pg": _per_release(PG_HA + PG_GC + PG_METRICS) | set(ETCD),
        "app": _app_files(RELEASES) | set(PROXY),
    },
    # Single nodes. Its Redis store requires client certificates, which
    # phpredis on Debian 12 cannot present: the app role refuses Debian 12
    # app hosts there (tasks/main.yml), so only Debian 13 renders.
    "staging": {
        "redis": _per_release(REDIS + REDIS_METRICS),
        "pg": _per_release(PG_SINGLE + PG_GC + PG_METRICS),
        "app": _app_files(("13",)),
    },
}

Rendered = dict[str, dict[str, str]]


def render(tmp_path: Path, name: str) -> Rendered:
    """render.yml on an example inventory: host -> file -> text."""
    out = tmp_path / "rendered.json"
    # Stand-in secrets only: show a failed rendering's error. Failures only,
    # no ok/skipped lines.
    result = run_locally(tmp_path, name, str(RENDER), {"render_file": str(out), "render_no_log": False, **STAND_INS},
                         env={"ANSIBLE_DISPLAY_OK_HOSTS": "false", "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"},
                         timeout=300)
    first_error = re.search(r"^(\[ERROR\]|fatal:|failed:)", result.stdout, re.M)
    assert result.returncode == 0, result.stdout[first_error.start() if first_error else -6000:][:6000] + result.stderr
    data: Rendered = json.loads(out.read_text())
    return data


# --- tests -------------------------------------------------------------------

def test_every_template_is_rendered_and_checked() -> None:
    """A new template must join the rendering (render.yml, EXPECTED) and get a check."""
    templates = sorted(p.name.removesuffix(".j2") for p in ROOT.glob("roles/*/templates/*.j2"))
    assert len(templates) == len(set(templates)), "template names must differ between roles"
    rendered = {path.rsplit("/", 1)[-1] for kinds in EXPECTED.values() for paths in kinds.values() for path in paths}
    # session_monitor's (no host of the example inventories): test_monitor_render.py.
    rendered |= set(MONITOR_FILES)
    assert sorted(rendered) == templates
    assert sorted(CHECKS) == templates


@pytest.mark.parametrize("name", ["production", "staging"])
def test_templates_render_and_pass_the_checks(tmp_path: Path, name: str) -> None:
    rendered = render(tmp_path, name)
    expected = {host: next(files for prefix, files in EXPECTED[name].items() if host.startswith(prefix))
                for host in rendered if host != "localhost"}
    assert {host: set(files) for host, files in rendered.items() if host != "localhost"} == expected
    problems = [p for host, files in sorted(rendered.items()) for path, text in sorted(files.items())
                for p in problems_of(host, path, text)]
    assert not problems, "\n".join(problems)
