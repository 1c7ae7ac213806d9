"""The renewal alarm: days left of every kit certificate (suite/cert_expiry.py, suite/test_certificates.py)
and its table in the audit report (verify_report.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cert_expiry
import pytest
import verify_report
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUITE = Path(__file__).resolve().parents[2] / "roles" / "session_verify" / "files" / "suite"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _pem(cn: str, not_after: datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_after - timedelta(days=400))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(("delta", "days"), [
    (timedelta(days=30), 30), (timedelta(days=29, hours=23), 29), (timedelta(hours=1), 0), (timedelta(hours=-1), -1),
])
def test_days_left_round_down(delta: timedelta, days: int) -> None:
    assert cert_expiry.days_left(NOW + delta, NOW) == days


def test_a_bundle_lists_each_certificate() -> None:
    pem = _pem("ca-old", NOW + timedelta(days=900)) + _pem("ca-new", NOW + timedelta(days=12, hours=3))
    certs = cert_expiry.read_bundle("lab-pg", "/etc/session-kit/tls/ca.crt", pem, NOW)
    assert [(c.subject, c.days_left) for c in certs] == [("CN=ca-old", 900), ("CN=ca-new", 12)]
    assert [c.subject for c in cert_expiry.below(certs, 30)] == ["CN=ca-new"]
    assert cert_expiry.below(certs, 12) == []


def test_the_dump_splits_into_files() -> None:
    one, two = _pem("a", NOW), _pem("b", NOW)
    dump = f"== /etc/session-kit/tls/a.crt\n{one}== /etc/session-kit/tls/ca.crt\n{two}"
    files = cert_expiry.split_dump(dump)
    assert list(files) == ["/etc/session-kit/tls/a.crt", "/etc/session-kit/tls/ca.crt"]
    assert files["/etc/session-kit/tls/ca.crt"].strip() == two.strip()


def _run_control_node_check(tmp_path: Path, days: int, min_days: int) -> tuple[int, ET.Element, str]:
    pki = tmp_path / "pki"
    (pki / "redis" / "clients").mkdir(parents=True)
    (pki / "retired").mkdir()
    now = datetime.now(tz=UTC)
    (pki / "ca.crt").write_text(_pem("Session kit private CA", now + timedelta(days=3000, hours=1)))
    client = _pem("session-verify", now + timedelta(days=days, hours=1))
    (pki / "redis" / "clients" / "session-verify.crt").write_text(client)
    # A retired CA is trusted nowhere: never an alarm, even expired.
    (pki / "retired" / "ca.crt").write_text(_pem("old CA", now + timedelta(days=1)))
    context = tmp_path / "context.json"
    context.write_text(json.dumps({"inventory": [], "redis": [], "postgresql": [], "apps": [],
                                   "certificates": {"min_days": min_days, "pki_dir": str(pki), "host_dirs": []}}))
    junit = tmp_path / "junit.xml"
    env = dict(os.environ, KIT_VERIFY_CONTEXT=str(context))
    proc = subprocess.run([sys.executable, "-m", "pytest", str(SUITE / "test_certificates.py"), "-p",
                           "no:cacheprovider", "-q", "--junitxml", str(junit), "-k", "control_node"],
                          cwd=SUITE, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, ET.parse(junit).getroot(), proc.stdout


def test_the_check_fails_below_the_threshold_and_names_the_variable(tmp_path: Path) -> None:
    rc, _root, out = _run_control_node_check(tmp_path, days=20, min_days=30)
    assert rc == 1, out
    assert "session-verify" in out and "20 days left" in out and "session_verify_cert_min_days" in out, out
    assert "old CA" not in out


def test_the_check_passes_above_the_threshold_and_the_report_lists_every_certificate(tmp_path: Path) -> None:
    rc, root, out = _run_control_node_check(tmp_path, days=45, min_days=30)
    assert rc == 0, out
    certs, threshold = verify_report.certificates(root)
    assert threshold == 30
    assert [(c["subject"], c["days_left"]) for c in certs] == [("CN=session-verify", 45),
                                                               ("CN=Session kit private CA", 3000)]
    text = "\n".join(verify_report.render_certificates(certs, threshold))
    assert "2 kit certificates; alarm below 30 days left" in text and "none below" in text
    assert "| 45 |" in text


def test_the_report_marks_certificates_below_the_threshold() -> None:
    root = ET.fromstring(
        '<testsuites><testsuite name="pytest"><properties>'
        '<property name="kit_certificates:lab-redis" value=\'{"min_days": 30, "certificates": ['
        '{"host": "lab-redis", "path": "/etc/session-kit/tls/lab-redis.crt", "subject": "CN=lab-redis",'
        ' "not_after": "2026-12-19 10:00 UTC", "days_left": 12},'
        '{"host": "lab-redis", "path": "/etc/session-kit/tls/ca.crt", "subject": "CN=CA",'
        ' "not_after": "2036-01-01 00:00 UTC", "days_left": 3310}]}\'/>'
        '</properties></testsuite></testsuites>')
    certs, threshold = verify_report.certificates(root)
    lines = verify_report.render_certificates(certs, threshold)
    assert "**1 below, converge to renew them**" in lines[2]
    assert lines[6].startswith("| **12** (below 30) | 2026-12-19 10:00 UTC | lab-redis |")
    assert lines[7].startswith("| 3310 |")


def test_no_certificate_section_when_the_check_did_not_run() -> None:
    root = ET.fromstring('<testsuites><testsuite name="pytest"/></testsuites>')
    assert verify_report.render_certificates(*verify_report.certificates(root)) == []
