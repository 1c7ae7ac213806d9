"""Redis/Valkey session stores: the host's files, secrets and service sandbox.

Owners and modes of the configuration, ACL file and key; no secret in
plaintext under /etc (the TLS reload user's password only in its root-only
file) nor in the Ansible output; the server unprivileged and sandboxed.
"""

from __future__ import annotations

import pytest
from conftest import files_containing, host_for
from redis_client import Store, reload_secret, reload_secret_file

# --- host: files and secrets ------------------------------------------------------

def test_file_owners_and_modes(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    expected = {
        redis_store["conf_file"]: ("root", redis_store["group"], 0o640),
        redis_store["aclfile"]: (redis_store["user"], redis_store["group"], 0o600),
        redis_store["tls_key"]: ("root", redis_store["group"], 0o640),
    }
    for path, (owner, group, mode) in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == (owner, group, mode), path


def test_no_world_readable_files_in_the_config_dir(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    conf_dir = redis_store["conf_file"].rsplit("/", 1)[0]
    found = host.check_output(f"find {conf_dir} -type f -perm -o=r")
    assert found.strip() == ""


def test_no_plaintext_secret_under_etc(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    secrets = [redis_store["admin_password"]] + [u["password"] for u in redis_store["app_users"]]
    for secret in secrets:
        assert files_containing(host, secret, ["/etc"]) == []
    # The reload user's password lives in its root-only file and nowhere else.
    assert files_containing(host, reload_secret(redis_store), ["/etc"]) == [reload_secret_file(redis_store)]


def test_server_runs_unprivileged_and_sandboxed(redis_store: Store) -> None:
    host = host_for(redis_store["name"])
    show = host.check_output(
        f"systemctl show -p User -p ProtectSystem -p NoNewPrivileges -p ReadWritePaths {redis_store['service']}")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props["User"] == redis_store["user"]
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    assert "/etc" not in props["ReadWritePaths"]


# --- secrets in Ansible output ------------------------------------------------------

def test_no_secret_in_ansible_output(redis_store: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "redis_session_store" in ansible_log, "log does not hold the converge"
    secrets = [redis_store["admin_password"], reload_secret(redis_store)]
    for secret in secrets + [u["password"] for u in redis_store["app_users"]]:
        assert secret not in ansible_log
