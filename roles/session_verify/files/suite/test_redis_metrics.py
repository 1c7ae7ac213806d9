"""Redis/Valkey metrics (redis_session_store_metrics_enabled): the exporter and its identity.

The exporter answers on its configured listener only and reports the store up: it reaches the node
over TLS (the plaintext port is off), as its own ACL user. That user reads INFO (the control) and is
refused every session key (NOPERM), CONFIG and key scans. Its password sits in one root-only file.
"""

from __future__ import annotations

import pytest
import redis
from conftest import files_containing, host_for
from exporter import assert_listens_only_where_configured, scrape, with_metrics
from redis_client import Store, app_user, connect, key, primary_of


@pytest.fixture
def metrics_store(redis_store: Store) -> Store:
    return with_metrics(redis_store, "redis_session_store_metrics_enabled")


def test_exporter_reports_the_store_up_over_tls(metrics_store: Store) -> None:
    lines = scrape(metrics_store)
    assert "redis_up 1" in lines, [line for line in lines if line.startswith("redis_up")]
    assert any(line.startswith("redis_instance_info{") for line in lines)
    assert any(line.startswith("redis_memory_max_bytes ") for line in lines)
    # The node has no plaintext port (port 0): the exporter's settings dial TLS, verification on.
    settings = str(host_for(metrics_store["name"]).file(
        f"/etc/session-kit/secrets/{metrics_store['metrics_service']}.env").content_string).splitlines()
    assert any(line.startswith("REDIS_ADDR=rediss://") for line in settings)
    assert not any("skip-tls-verification" in line for line in settings)


def test_exporter_listens_where_configured_only(metrics_store: Store) -> None:
    assert_listens_only_where_configured(metrics_store)


def test_metrics_user_reads_info(metrics_store: Store, client_cert: tuple[str, str] | None) -> None:
    """The control: what the exporter needs works with the same connection the refusals use."""
    conn = connect(metrics_store, client_cert, metrics_store["metrics_user"], metrics_store["metrics_password"])
    assert conn.info("server")["redis_version"]
    assert isinstance(conn.execute_command("SLOWLOG", "LEN"), int)


def test_metrics_user_cannot_read_a_session(metrics_store: Store, client_cert: tuple[str, str] | None) -> None:
    writer = primary_of(metrics_store, client_cert)
    user = app_user(writer)
    session = key(writer)
    app = connect(writer, client_cert, user["name"], user["password"])
    app.set(session, "user|s:5:\"alice\";", ex=60)
    try:
        assert app.get(session) is not None  # the control: the app reads its session
        monitor = connect(writer, client_cert, writer["metrics_user"], writer["metrics_password"])
        with pytest.raises(redis.exceptions.NoPermissionError):
            monitor.get(session)
        with pytest.raises(redis.exceptions.NoPermissionError):
            monitor.execute_command("DUMP", session)
    finally:
        app.delete(session)


@pytest.mark.parametrize("command", [("CONFIG", "GET", "*"), ("SCAN", "0"), ("KEYS", "*"), ("CLIENT", "LIST"),
                                     ("MONITOR",), ("ACL", "LIST"), ("SET", "x", "1")])
def test_metrics_user_is_refused_the_rest(metrics_store: Store, client_cert: tuple[str, str] | None,
                                          command: tuple[str, ...]) -> None:
    monitor = connect(metrics_store, client_cert, metrics_store["metrics_user"], metrics_store["metrics_password"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        monitor.execute_command(*command)


def test_metrics_password_only_in_the_root_only_settings(metrics_store: Store) -> None:
    host = host_for(metrics_store["name"])
    found = files_containing(host, metrics_store["metrics_password"], ["/etc"])
    env = f"/etc/session-kit/secrets/{metrics_store['metrics_service']}.env"
    assert found == [env]
    f = host.file(env)
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
