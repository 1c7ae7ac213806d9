"""PostgreSQL session stores: the host's files and secrets.

Owners and modes of the configuration, data, log and key; private log
files; no app password in plaintext on the host nor in the Ansible output.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import pytest
from conftest import files_containing, host_for
from pg_client import Store, apps_of, is_ha

# --- files ------------------------------------------------------------------------------------

def test_file_owners_and_modes(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    expected = {
        pg_store["config_dir"]: 0o700,
        # HA: Patroni writes it (umask 0077): 0600.
        f"{pg_store['config_dir']}/postgresql.conf": 0o600 if is_ha(pg_store) else 0o640,
        f"{pg_store['config_dir']}/pg_hba.conf": 0o600,
        pg_store["data_dir"]: 0o700,
        pg_store["log_directory"]: 0o700,
        pg_store["tls_key"]: 0o600,
    }
    for path, mode in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert (f.user, f.group, f.mode) == ("postgres", "postgres", mode), path


def test_log_files_are_private(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    loose = host.check_output("find %s -type f -perm /g=rwx,o=rwx", pg_store["log_directory"])
    assert loose.strip() == ""


def test_no_plaintext_password_on_the_host(pg_store: Store) -> None:
    host = host_for(pg_store["name"])
    for app in apps_of(pg_store):
        hits = files_containing(host, app["password"], ["/etc", "/var/log/postgresql", pg_store["log_directory"]])
        assert hits == [], (app["name"], hits)


# --- secrets in Ansible output ------------------------------------------------------------------

def test_no_password_in_ansible_output(pg_store: Store, ansible_log: str | None) -> None:
    if ansible_log is None:
        pytest.skip("no Ansible log of this run (set ANSIBLE_LOG_PATH)")
    assert "postgresql_session_store" in ansible_log, "log does not hold the converge"
    for app in apps_of(pg_store):
        assert app["password"] not in ansible_log, app["name"]
