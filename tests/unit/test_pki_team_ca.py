"""One CA for the team (issue #23, item 4): the CA directory lives in the inventory, its key encrypted,
and a host carrying certificates of another CA stops the run before any change, naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import session_pki
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from role_validation import GOOD_REDIS, ROOT, Cases, case_vars, check_passes_validation, check_refused_early


def _ca(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(tz=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


TEAM, OTHER, NEXT = _ca("Session kit private CA"), _ca("Session kit private CA"), _ca("Session kit private CA next")


# --- the filters -----------------------------------------------------------------------------------

def _files(tmp_path: Path, **pems: str) -> list[str]:
    paths = []
    for name, pem in pems.items():
        path = tmp_path / f"{name}.crt"
        path.write_text(pem)
        paths.append(str(path))
    return [*paths, str(tmp_path / "missing.crt")]


def test_the_same_ca_is_not_foreign(tmp_path: Path) -> None:
    assert session_pki.foreign_ca(TEAM, _files(tmp_path, ca=TEAM)) == []


def test_another_ca_with_the_same_name_is_foreign(tmp_path: Path) -> None:
    found = session_pki.foreign_ca(OTHER, _files(tmp_path, ca=TEAM))
    assert len(found) == 1 and found[0].startswith("CN=Session kit private CA (SHA-256 "), found


def test_a_host_ca_when_the_control_node_has_none_is_foreign(tmp_path: Path) -> None:
    assert session_pki.foreign_ca(OTHER, [str(tmp_path / "ca.crt")]) != []


def test_a_rollover_bundle_sharing_one_ca_is_not_foreign(tmp_path: Path) -> None:
    assert session_pki.foreign_ca(TEAM + NEXT, _files(tmp_path, ca_next=NEXT)) == []
    assert session_pki.foreign_ca(OTHER + NEXT, _files(tmp_path, ca=TEAM)) != []


def test_a_host_without_a_ca_file_is_not_foreign(tmp_path: Path) -> None:
    assert session_pki.foreign_ca("", _files(tmp_path, ca=TEAM)) == []


def test_inventory_dirs_and_within(tmp_path: Path) -> None:
    (tmp_path / "prod").mkdir()
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "hosts.yml").write_text("all: {}\n")
    sources = [str(tmp_path / "prod"), str(tmp_path / "stage" / "hosts.yml"), "host1,host2,"]
    assert session_pki.inventory_dirs(sources) == [str(tmp_path / "prod"), str(tmp_path / "stage")]
    assert session_pki.inventory_dirs(["host1,"]) == []
    dirs = session_pki.inventory_dirs(sources)
    assert session_pki.within(tmp_path / "prod" / ".session-kit" / "pki", dirs)
    assert session_pki.within(tmp_path / "stage", dirs)
    assert not session_pki.within(tmp_path / "prod-other" / "pki", dirs)
    assert not session_pki.within(tmp_path, dirs)


# --- validation: where the CA lives (Redis role, a host that cannot be reached) ------------------

def _cases(tmp_path: Path) -> Cases:
    outside = tmp_path.parent / f"{tmp_path.name}-ca-outside"
    return Cases(tmp_path, "redis_session_store", {
        "CA in the inventory without a passphrase": case_vars(GOOD_REDIS, {"session_pki_ca_passphrase": ""}),
        "CA in the inventory, set explicitly, without a passphrase": case_vars(GOOD_REDIS, {
            "session_pki_ca_passphrase": "", "session_pki_ca_dir": str(tmp_path / "batch" / "team-pki")}),
        "CA in the inventory with a passphrase (control)": case_vars(GOOD_REDIS, {}),
        "CA outside the inventory without a passphrase (control)": case_vars(GOOD_REDIS, {
            "session_pki_ca_passphrase": "", "session_pki_ca_dir": str(outside)}),
    })


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    return _cases(tmp_path_factory.mktemp("pki-validation"))


@pytest.mark.parametrize("case", ["CA in the inventory without a passphrase",
                                  "CA in the inventory, set explicitly, without a passphrase"])
def test_a_ca_in_the_inventory_needs_an_encrypted_key(cases: Cases, case: str) -> None:
    check_refused_early(cases[case], case, "session_pki_ca_passphrase")
    assert "lies inside the inventory" in cases[case].text


@pytest.mark.parametrize("case", ["CA in the inventory with a passphrase (control)",
                                  "CA outside the inventory without a passphrase (control)"])
def test_ca_placement_controls_pass(cases: Cases, case: str) -> None:
    check_passes_validation(cases[case])


def test_the_default_ca_dir_is_in_the_inventory_never_home() -> None:
    defaults = yaml.safe_load((ROOT / "roles" / "session_pki" / "defaults" / "main.yml").read_text())
    default = defaults["session_pki_ca_dir"]
    assert "HOME" not in default and "_session_pki_inventory_dir" in default
    for env in ("production", "staging"):
        inventory = yaml.safe_load((ROOT / "inventories" / env / "group_vars" / "all" / "main.yml").read_text())
        assert "session_pki_ca_dir" not in inventory, env
        assert inventory["session_pki_ca_passphrase"].startswith("{{ vault_"), env


# --- check_ca: the host's CA against the control node's (local connection, nothing installed) -----

def _check_ca(tmp_path: Path, host_ca: str | None, control: dict[str, str], host_file: str = "ca.crt",
              **extra: str) -> tuple[int, str]:
    """check_ca on a local host whose HOST_FILE (in its certificate directory) holds HOST_CA; CONTROL:
    files of the CA directory (relative paths)."""
    pki, tls = tmp_path / "inventory" / ".session-kit" / "pki", tmp_path / "host-tls"
    pki.mkdir(parents=True)
    tls.mkdir()
    for name, pem in control.items():
        (pki / name).parent.mkdir(parents=True, exist_ok=True)
        (pki / name).write_text(pem)
    if host_ca is not None:
        (tls / host_file).write_text(host_ca)
    (tmp_path / "inventory" / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": {"store-1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    play = [{"name": "Check the host's CA", "hosts": "store-1", "gather_facts": False, "tasks": [
        {"name": "Check", "ansible.builtin.include_role": {"name": "hardened.sessions.session_pki",
                                                          "tasks_from": "check_ca"}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    variables = {"session_pki_dest_dir": str(tls), **extra}
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{ROOT / '.collection'}"}
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                             str(tmp_path / "inventory" / "hosts.yml"), str(tmp_path / "play.yml"),
                             "-e", json.dumps(variables)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    return result.returncode, result.stdout + result.stderr


def test_a_host_of_another_ca_stops_the_run_naming_the_variable(tmp_path: Path) -> None:
    rc, out = _check_ca(tmp_path, OTHER, {"ca.crt": TEAM})
    assert rc != 0, out[-2000:]
    assert "session_pki_ca_dir" in out and "another CA" in out and "nothing was changed" in out, out[-2000:]


def test_a_lost_ca_directory_stops_the_run(tmp_path: Path) -> None:
    rc, out = _check_ca(tmp_path, TEAM, {})
    assert rc != 0, out[-2000:]
    assert "no CA there yet" in out and "session_pki_ca_dir" in out, out[-2000:]


@pytest.mark.parametrize(("host_file", "home"), [("ca-redis.crt", "redis"), ("ca-dcs.crt", "dcs")])
def test_each_trust_domain_is_compared(tmp_path: Path, host_file: str, home: str) -> None:
    """Redis members trust only the Redis domain's CA (ca-redis.crt), etcd/Patroni the DCS one."""
    rc, out = _check_ca(tmp_path, OTHER, {"ca.crt": TEAM, f"{home}/ca.crt": TEAM}, host_file=host_file)
    assert rc != 0, out[-2000:]
    assert f"{host_file} holds CN=Session kit private CA" in out and f"pki/{home}" in out, out[-2000:]
    rc, out = _check_ca(tmp_path / "same", TEAM, {"ca.crt": OTHER, f"{home}/ca.crt": TEAM}, host_file=host_file)
    assert rc == 0, out[-2000:]


@pytest.mark.parametrize(("host_ca", "control", "extra"), [
    (TEAM, {"ca.crt": TEAM}, {}),
    (None, {}, {}),
    (TEAM + NEXT, {"ca.crt": TEAM, "ca-next.crt": NEXT}, {}),
    (OTHER, {"ca.crt": TEAM}, {"session_pki_ca_rollover": "trust"}),
    (OTHER, {"ca.crt": TEAM}, {"session_pki_mode": "provided"}),
], ids=["same CA", "no CA on the host yet", "rollover bundle", "rollover asked for", "provided certificates"])
def test_the_check_passes_the_team_ca(tmp_path: Path, host_ca: str | None, control: dict[str, str],
                                      extra: dict[str, str]) -> None:
    rc, out = _check_ca(tmp_path, host_ca, control, **extra)
    assert rc == 0, out[-2000:]
    assert "Check that the host's CAs are the ones" in out, out[-2000:]


@pytest.mark.parametrize("role", ["redis_session_store", "postgresql_session_store", "php_session_app"])
def test_each_role_checks_the_hosts_ca_last_in_its_validation(role: str) -> None:
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "validate.yml").read_text())
    last = tasks[-1]["ansible.builtin.include_role"]
    assert last == {"name": "hardened.sessions.session_pki", "tasks_from": "check_ca"}
