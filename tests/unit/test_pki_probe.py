"""session_pki's fast path: the probe module on a temporary directory, and the drift filter that decides
from its result whether the issuing steps run (empty: nothing to do, anything else: they run)."""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import pwd
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "session_pki_probe.py"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

sys.path.insert(0, str(ROOT / "plugins" / "filter"))
import session_pki  # noqa: E402


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str = "Session kit private CA") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], key: Any, days: int = 90,
          sans: tuple[str, ...] = ("redis-1", "127.0.0.1"), cn: str = "redis-1") -> x509.Certificate:
    names: list[x509.GeneralName] = [x509.DNSName(s) if not s[0].isdigit() else
                                     x509.IPAddress(ipaddress.ip_address(s)) for s in sans]
    return (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca[1].subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(hours=1)).not_valid_after(NOW + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca[0], hashes.SHA256()))


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _write(tmp_path: Path, key: Any, cert: x509.Certificate | None, ca_text: str | None) -> None:
    (tmp_path / "h.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "h.key").chmod(0o600)
    if cert is not None:
        (tmp_path / "h.crt").write_text(_pem(cert))
        (tmp_path / "h.crt").chmod(0o644)
    if ca_text is not None:
        (tmp_path / "ca.crt").write_text(ca_text)
        (tmp_path / "ca.crt").chmod(0o644)


def probe(tmp_path: Path, ca: bool = True) -> dict[str, Any]:
    args = tmp_path.parent / f"{tmp_path.name}-args.json"
    params: dict[str, Any] = {"key": str(tmp_path / "h.key"), "cert": str(tmp_path / "h.crt")}
    if ca:
        params["ca"] = str(tmp_path / "ca.crt")
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    out = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, timeout=60,
                         check=False)
    return dict(json.loads(out.stdout))


def plan(ca_cert: x509.Certificate, ca_bundle: str | None, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "common_name": "redis-1", "sans": ["DNS:redis-1", "IP:127.0.0.1"], "eku": ["serverAuth"],
        "key_usage": ["digitalSignature"], "key_type": "ecdsa", "rsa_bits": 3072, "key_owner": OWNER,
        "key_group": GROUP, "key_mode": "0600", "valid_days": "90", "renew_days": 30, "signer_pem": _pem(ca_cert),
        "ca_bundle": ca_bundle, "file_owner": OWNER, "file_group": GROUP}
    return {**base, **changes}


@pytest.fixture()
def host(tmp_path: Path) -> tuple[Path, tuple[Any, x509.Certificate], str]:
    """A converged host: key, certificate from the CA, CA file."""
    ca = _ca()
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = _pem(ca[1])
    _write(tmp_path, key, _leaf(ca, key), bundle)
    return tmp_path, ca, bundle


def test_a_converged_host_has_no_drift(host: tuple[Path, Any, str]) -> None:
    path, ca, bundle = host
    result = probe(path)
    assert result["changed"] is False
    assert "PRIVATE" not in json.dumps(result), "the private key never leaves the host"
    assert result["key"]["type"] == "ecdsa" and result["key"]["curve"] == "secp256r1"
    assert session_pki.drift(result, plan(ca[1], bundle), NOW) == []


@pytest.mark.parametrize(("change", "reason"), [
    ({"common_name": "redis-2"}, "subject"),
    ({"sans": ["DNS:redis-1", "IP:127.0.0.1", "IP:10.0.0.5"]}, "SAN"),
    ({"eku": ["serverAuth", "clientAuth"]}, "extended key usage"),
    ({"key_type": "rsa"}, "planned rsa"),
    ({"key_mode": "0640"}, "planned"),
    ({"key_owner": "nobody-else"}, "planned nobody-else"),
    ({"renew_days": 91, "valid_days": 120}, "days left"),  # inside the renewal window
    ({"valid_days": 30, "renew_days": 10}, "days left"),  # outlives the configured lifetime
    ({"ca_bundle": "another bundle\n"}, "CA file differs"),
], ids=["cn", "san", "eku", "key-type", "key-mode", "key-owner", "renew", "too-long", "bundle"])
def test_each_difference_runs_the_issuing_steps(host: tuple[Path, Any, str], change: dict[str, Any],
                                                reason: str) -> None:
    path, ca, bundle = host
    problems = session_pki.drift(probe(path), plan(ca[1], **{"ca_bundle": bundle, **change}), NOW)
    assert any(reason in p for p in problems), problems


def test_another_signing_ca_is_a_drift(host: tuple[Path, Any, str]) -> None:
    """Rollover step issue: the new CA signs, so every certificate of the old one is reissued."""
    path, _, bundle = host
    other = _ca("Session kit private CA")  # same name, another key: only the signature tells
    assert any("not issued" in p for p in session_pki.drift(probe(path), plan(other[1], bundle), NOW))
    assert any("not issued" in p for p in session_pki.drift(probe(path), plan(other[1], bundle, signer_pem=""), NOW))


def test_a_certificate_for_another_key_is_a_drift(host: tuple[Path, Any, str]) -> None:
    path, ca, bundle = host
    other_key = ec.generate_private_key(ec.SECP256R1())
    (path / "h.crt").write_text(_pem(_leaf(ca, other_key)))
    assert "certificate is not for the host's key" in session_pki.drift(probe(path), plan(ca[1], bundle), NOW)


def test_missing_files_and_modes(host: tuple[Path, Any, str]) -> None:
    path, ca, bundle = host
    (path / "h.crt").chmod(0o600)
    assert any(p.startswith("certificate is") for p in session_pki.drift(probe(path), plan(ca[1], bundle), NOW))
    (path / "ca.crt").unlink()
    assert "no CA file" in session_pki.drift(probe(path), plan(ca[1], bundle), NOW)
    # An earlier certificate of the run wrote the CA file: not probed, not compared.
    (path / "h.crt").chmod(0o644)
    assert session_pki.drift(probe(path, ca=False), plan(ca[1], None), NOW) == []
    (path / "h.crt").unlink()
    assert session_pki.drift(probe(path), plan(ca[1], None), NOW) == ["no certificate"]
    (path / "h.key").unlink()
    assert session_pki.drift(probe(path), plan(ca[1], None), NOW) == ["no key"]


def test_an_rsa_key_of_the_planned_size(tmp_path: Path) -> None:
    ca = _ca()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(tmp_path, key, _leaf(ca, key), None)
    result = probe(tmp_path, ca=False)
    assert (result["key"]["type"], result["key"]["size"]) == ("rsa", 2048)
    assert session_pki.drift(result, plan(ca[1], None, key_type="rsa", rsa_bits=2048), NOW) == []
    assert any("planned rsa 3072" in p for p in session_pki.drift(result, plan(ca[1], None, key_type="rsa"), NOW))


def test_a_broken_key_is_reported_not_shown(tmp_path: Path) -> None:
    (tmp_path / "h.key").write_text("-----BEGIN PRIVATE KEY-----\nsecretgarbage\n-----END PRIVATE KEY-----\n")
    result = probe(tmp_path, ca=False)
    assert "secretgarbage" not in json.dumps(result)
    assert session_pki.drift(result, plan(_ca()[1], None), NOW)[0].startswith("key does not load")


@pytest.mark.parametrize(("change", "due"), [
    ({}, False),  # inside the window: the signing step keeps the certificate
    ({"renew_days": 91, "valid_days": 120}, True),  # fewer days left than renew_days
    ({"valid_days": 30, "renew_days": 10}, True),  # outlives the configured lifetime
    ({"common_name": "redis-2"}, False),  # other drift: reissued by the module, not forced
], ids=["inside", "renew", "too-long", "other-drift"])
def test_renewal_due_is_the_drift_window(host: tuple[Path, Any, str], change: dict[str, Any], due: bool) -> None:
    path, ca, bundle = host
    result = probe(path)
    the_plan = plan(ca[1], **{"ca_bundle": bundle, **change})
    assert session_pki.renewal_due(result, the_plan, NOW) is due
    window_drift = any("days left" in p for p in session_pki.drift(result, the_plan, NOW))
    assert window_drift is due, "one window for the drift and the signing step's force"


def test_no_certificate_is_not_a_forced_renewal(tmp_path: Path) -> None:
    ca = _ca()
    _write(tmp_path, ec.generate_private_key(ec.SECP256R1()), None, _pem(ca[1]))
    assert session_pki.renewal_due(probe(tmp_path), plan(ca[1], None), NOW) is False
