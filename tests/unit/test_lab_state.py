"""lab_state: the fast path of `make lab` runs only when nothing the converge depends on changed."""

from __future__ import annotations

import json
from pathlib import Path

import lab_state as ls
import pytest

ROOT = Path(__file__).resolve().parents[2]
UP: dict[str, str | None] = {"lab-redis": "id1 img1 true 2026-01-01T00:00:00Z"}


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    (root / "roles" / "r" / "tasks").mkdir(parents=True)
    (root / "roles" / "r" / "tasks" / "main.yml").write_text("---\n")
    (root / "roles" / "r" / "__pycache__").mkdir()
    (root / "roles" / "r" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    (root / "ansible.cfg").write_text("[defaults]\n")
    lab = root / "lab"
    (lab / "secrets").mkdir(parents=True)
    (lab / "secrets" / "redis_app").write_text("s3cret\n")
    return root, lab


def test_lab_inventory_lists_the_lab_containers() -> None:
    assert ls.lab_containers(ROOT / "inventories" / "lab" / "hosts.yml") == [
        "lab-app", "lab-monitor", "lab-pg", "lab-pg-2", "lab-pg-3", "lab-redis", "lab-redis-2", "lab-redis-3"]


def test_fingerprint_is_stable_and_ignores_caches(tmp_path: Path) -> None:
    root, lab = _tree(tmp_path)
    first = ls.fingerprint(root, lab, UP, env={})
    (root / "roles" / "r" / "__pycache__" / "x.pyc").write_bytes(b"other cache")
    assert ls.fingerprint(root, lab, UP, env={}) == first


@pytest.mark.parametrize("change", ["role file", "new file", "secret", "container", "distro"])
def test_fingerprint_changes_with_every_input(tmp_path: Path, change: str) -> None:
    root, lab = _tree(tmp_path)
    before = ls.fingerprint(root, lab, UP, env={})
    containers: dict[str, str | None] = dict(UP)
    env: dict[str, str] = {}
    if change == "role file":
        (root / "roles" / "r" / "tasks" / "main.yml").write_text("---\n# edited\n")
    elif change == "new file":
        (root / "roles" / "r" / "tasks" / "extra.yml").write_text("---\n")
    elif change == "secret":
        (lab / "secrets" / "redis_app").write_text("rotated\n")
    elif change == "container":
        containers["lab-redis"] = "id2 img1 true 2026-01-02T00:00:00Z"
    else:
        env = {"KIT_LAB_DISTRO": "bookworm"}
    assert ls.fingerprint(root, lab, containers, env=env) != before


def test_check_without_a_record_converges(tmp_path: Path) -> None:
    unchanged, reason = ls.check(ROOT, tmp_path)
    assert not unchanged and "no record" in reason


def test_check_refuses_a_stopped_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "endpoints.json").write_text("{}")
    monkeypatch.setattr(ls, "container_states", lambda names: {n: None for n in names})
    ls.record(ROOT, tmp_path)
    assert json.loads((tmp_path / ".state.json").read_text())["fingerprint"]
    assert (tmp_path / ".state.json").stat().st_mode & 0o777 == 0o600
    unchanged, reason = ls.check(ROOT, tmp_path)
    assert not unchanged and "absent or stopped" in reason


def test_check_accepts_the_recorded_state_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "endpoints.json").write_text("{}")
    states = {"lab-app": "a i true t", "lab-pg": "b i true t", "lab-pg-2": "d i true t", "lab-pg-3": "e i true t",
              "lab-redis": "c i true t", "lab-redis-2": "f i true t", "lab-redis-3": "g i true t",
              "lab-monitor": "h i true t"}
    monkeypatch.setattr(ls, "container_states", lambda names: {n: states[n] for n in names})
    ls.record(ROOT, tmp_path)
    assert ls.check(ROOT, tmp_path)[0]
    states["lab-pg"] = "b2 i true t"  # re-created
    assert not ls.check(ROOT, tmp_path)[0]


def _serve(body: bytes) -> tuple[str, object]:
    """A one-thread HTTP server answering every GET with ``body``; its URL and the server."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/", server


@pytest.mark.parametrize(("targets", "failures"), [
    ([{"labels": {"instance": "a:1"}, "health": "up"}], []),
    ([{"labels": {"instance": "a:1"}, "health": "up"},
      {"labels": {"instance": "b:2"}, "health": "down", "lastError": "x509: unknown authority"}],
     ["prometheus target b:2: down x509: unknown authority"]),
    ([], ["prometheus: no active scrape target"]),
])
def test_smoke_wants_every_prometheus_target_up(targets: list[dict[str, object]], failures: list[str]) -> None:
    url, server = _serve(json.dumps({"status": "success", "data": {"activeTargets": targets}}).encode())
    try:
        assert ls.prometheus_failures(url) == failures
    finally:
        server.shutdown()  # type: ignore[attr-defined]


def test_smoke_names_an_unreachable_prometheus() -> None:
    failures = ls.prometheus_failures("http://127.0.0.1:9/")
    assert len(failures) == 1 and failures[0].startswith("prometheus: ")
