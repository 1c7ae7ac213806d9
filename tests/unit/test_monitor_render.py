"""session_monitor's templates render with stand-in client views and pass the checks; promtool accepts
the Prometheus configuration, its TLS files and the rules it loads (the role validates with it too).

The example inventories have no session_monitors host, so test_render.py leaves these files to this
test (MONITOR_FILES). promtool: Debian's prometheus (`make deps`); without it that check skips, under
`make test` (KIT_REQUIRE_PROMTOOL=1) it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from render_checks import problems_of
from test_alert_rules import promtool
from test_inventories import ansible

RENDER = Path(__file__).parent / "validation" / "render-monitor.yml"
MONITOR_FILES = ["prometheus.yml", "prometheus.env", "prometheus.conf"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    work = tmp_path_factory.mktemp("monitor")
    out = work / "rendered.json"
    result = ansible("ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                     "-e", f"render_file={out}", "-e", f"render_dir={work}", str(RENDER), timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    return dict(json.loads(out.read_text())), work


def test_every_file_renders_and_passes_the_checks(rendered: tuple[dict[str, str], Path]) -> None:
    files, _ = rendered
    assert sorted(files) == sorted(MONITOR_FILES)
    assert {name: problems_of("monitor1", name, text) for name, text in files.items()} == {
        name: [] for name in MONITOR_FILES}


def test_the_jobs_follow_the_client_views(rendered: tuple[dict[str, str], Path]) -> None:
    conf = yaml.safe_load(rendered[0]["prometheus.yml"])
    jobs = {job["job_name"]: job["static_configs"] for job in conf["scrape_configs"]}
    group = "redis_session_stores"
    assert jobs == {
        "session_kit_redis": [
            {"targets": ["10.0.0.1:9121"], "labels": {"store": group, "host": "redis1", "kind": "redis"}},
            {"targets": ["10.0.0.2:9121"], "labels": {"store": group, "host": "redis2", "kind": "redis"}}],
        "session_kit_postgresql": [
            {"targets": ["pg1.example.org:9187"], "labels": {"store": "session-store", "host": "pg1",
                                                            "kind": "postgresql"}}]}
    assert conf["global"]["external_labels"] == {"environment": "staging"}
    assert "PrivateUsers=false" in rendered[0]["prometheus.conf"]
    assert "--web.listen-address=127.0.0.1:9090" in rendered[0]["prometheus.env"]


def test_promtool_accepts_the_configuration(rendered: tuple[dict[str, str], Path]) -> None:
    files, work = rendered
    for name in ("ca-metrics.crt", "monitor.crt"):
        (work / name).write_text("stand-in: promtool checks that the file exists\n")
    (work / "monitor.key").write_text("stand-in\n")
    conf = work / "prometheus.yml"
    conf.write_text(files["prometheus.yml"])
    result = subprocess.run([promtool(), "check", "config", str(conf)], capture_output=True, text=True, check=False,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules found" in result.stdout + result.stderr
