"""scripts/molecule_lanes.py: scenarios dealt to lanes, every one run, failures shown last."""

from __future__ import annotations

import stat
from pathlib import Path

import molecule_lanes as ml
import pytest


def test_deal_balances_the_lanes_and_keeps_the_order() -> None:
    scenarios = ["redis", "postgresql", "app", "redis-ha", "postgresql-ha"]
    lanes = ml.deal(scenarios, 2)
    assert sorted(s for lane in lanes for s in lane) == sorted(scenarios)
    assert ["app", "postgresql-ha"] not in lanes  # the two longest never share a lane
    loads = [sum(ml.ESTIMATE_MIN[s] for s in lane) for lane in lanes]
    assert max(loads) - min(loads) <= max(ml.ESTIMATE_MIN.values()) / 2
    for lane in lanes:
        assert lane == sorted(lane, key=scenarios.index)


def test_one_lane_is_the_sequential_run() -> None:
    assert ml.deal(["redis", "app"], 1) == [["redis", "app"]]
    assert ml.deal(["redis"], 4) == [["redis"]]


def test_failure_excerpt_shows_the_failing_task_and_the_end() -> None:
    failure = ["TASK [Check the report]", "\x1b[31mfatal: [localhost]: FAILED! =>\x1b[0m",
               "    msg: the report lacks a control"]
    log = "\n".join([f"line {i}" for i in range(500)] + failure + [f"later {i}" for i in range(100)])
    excerpt = ml.failure_excerpt(log)
    assert "fatal: [localhost]: FAILED! =>" in excerpt
    assert "TASK [Check the report]" in excerpt
    assert excerpt.index("later 99") < excerpt.index("fatal: [localhost]: FAILED! =>")
    assert "line 10" not in excerpt


def test_key_failures_name_the_tests_and_tasks() -> None:
    log = "\n".join(["TASK [Move each HA store's primary off the first member]", "ok: [x]",
                     "fatal: [localhost]: FAILED! => {\"rc\": 1}", "noise",
                     "FAILED test_ha.py::test_failover[pg] - AssertionError: 3 != 0", "ERROR test_app.py::test_x",
                     "      - FAILED  test_lock[lab-app-1]", "      - PASSED  test_y", "  │     - FAILED ",
                     "  │   test_failed_requests_fall_in_one_switchover", "  │     - 1 failed, 216 passed",
                     "FAILED test_ha.py::test_failover[pg] - AssertionError: 3 != 0"])
    assert ml.key_failures(log) == [
        "TASK [Move each HA store's primary off the first member] fatal: [localhost]: FAILED! => {\"rc\": 1}",
        "FAILED test_ha.py::test_failover[pg] - AssertionError: 3 != 0", "ERROR test_app.py::test_x",
        "- FAILED  test_lock[lab-app-1]", "- FAILED test_failed_requests_fall_in_one_switchover"]


@pytest.fixture()
def fake_molecule(tmp_path: Path) -> Path:
    """A stand-in molecule: scenario "bad" fails with an Ansible failure, the others pass."""
    script = tmp_path / "molecule"
    script.write_text('#!/bin/sh\necho "running $3"\nif [ "$3" = bad ]; then\n'
                      '  echo "fatal: [host]: FAILED! => {\\"msg\\": \\"boom\\"}"; exit 2\nfi\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_every_scenario_runs_and_a_failure_fails_the_run(tmp_path: Path, fake_molecule: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = ml.main(["--lanes", "2", "--log-dir", str(tmp_path / "logs"), "--molecule", str(fake_molecule),
                    "--stagger", "0", "bad", "redis", "app"])
    out = capsys.readouterr().out
    assert code == 1
    assert {p.name for p in (tmp_path / "logs").iterdir()} == {"bad.log", "redis.log", "app.log"}
    tail = out[out.index(">> bad failed"):]
    assert "bad             FAILED" in tail and "redis           passed" in tail
    assert 'fatal: [host]: FAILED! => {"msg": "boom"}' in tail
    end = tail.rstrip().splitlines()
    assert end[-1].startswith(">> molecule: FAILED")
    assert end[-3:-1] == [">> bad: what failed", '   fatal: [host]: FAILED! => {"msg": "boom"}']


def test_all_passed(tmp_path: Path, fake_molecule: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ml.main(["--lanes", "3", "--log-dir", str(tmp_path), "--molecule", str(fake_molecule), "--stagger", "0.1",
                    "redis", "app"]) == 0
    assert ">> molecule: all passed" in capsys.readouterr().out
