"""session_pki's signing step: the control node signs only the CSR the role planned (issue 22, item 8).

The host builds the CSR and sends it back; a compromised host could ask for other names, another
usage or a CA certificate. ``session_pki_csr_mismatch`` lists every difference; tasks/ownca.yml
fails on any, naming the host and the certificate.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from session_pki import FilterModule, csr_mismatch

PLANNED_SANS = ["DNS:redis-1", "DNS:redis-1.example.org", "IP:10.0.0.5"]
SERVER = [ExtendedKeyUsageOID.SERVER_AUTH]


def _csr(cn: str = "redis-1", sans: list[x509.GeneralName] | None = None, eku: list[Any] | None = None,
         key_usage: dict[str, bool] | None = None, extra: list[x509.ExtensionType] | None = None,
         subject: x509.Name | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = {"digital_signature": True, "content_commitment": False, "key_encipherment": False,
             "data_encipherment": False, "key_agreement": False, "key_cert_sign": False, "crl_sign": False,
             "encipher_only": False, "decipher_only": False, **(key_usage or {})}
    names = sans if sans is not None else [x509.DNSName("redis-1"), x509.DNSName("redis-1.example.org"),
                                           x509.IPAddress(ipaddress.ip_address("10.0.0.5"))]
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .add_extension(x509.SubjectAlternativeName(names), critical=False)
               .add_extension(x509.KeyUsage(**usage), critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku if eku is not None else SERVER), critical=False))
    for ext in extra or []:
        builder = builder.add_extension(ext, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def _check(pem: str, eku: list[str] | None = None) -> list[str]:
    return csr_mismatch(pem, "redis-1", PLANNED_SANS, eku or ["serverAuth"], ["digitalSignature"])


def test_the_planned_csr_passes() -> None:
    """Control: a CSR with exactly the plan is signed (otherwise every refusal below proves nothing)."""
    assert _check(_csr()) == []


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters()["session_pki_csr_mismatch"] is csr_mismatch


@pytest.mark.parametrize(("pem", "expected"), [
    pytest.param(lambda: _csr(cn="etcd-1"), "subject", id="another common name"),
    pytest.param(lambda: _csr(subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redis-1"),
                                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])),
                 "subject", id="extra subject attribute"),
    pytest.param(lambda: _csr(sans=[x509.DNSName("redis-1"), x509.DNSName("redis-1.example.org"),
                                    x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
                                    x509.DNSName("session-dcs-peer")]), "SAN", id="an extra SAN (etcd peer name)"),
    pytest.param(lambda: _csr(sans=[x509.DNSName("*.example.org")]), "SAN", id="a wildcard instead of the names"),
    pytest.param(lambda: _csr(eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                 "extended key usage", id="clientAuth on a server certificate"),
    pytest.param(lambda: _csr(eku=[ExtendedKeyUsageOID.CODE_SIGNING]), "extended key usage", id="another usage"),
    pytest.param(lambda: _csr(key_usage={"key_cert_sign": True}), "key usage", id="keyCertSign"),
    pytest.param(lambda: _csr(extra=[x509.BasicConstraints(ca=True, path_length=None)]), "extensions not planned",
                 id="asks to be a CA"),
    pytest.param(lambda: "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n",
                 "not a PEM CSR", id="garbage"),
])
def test_a_csr_that_differs_from_the_plan_is_refused(pem: Any, expected: str) -> None:
    problems = _check(pem())
    assert any(expected in p for p in problems), problems


def test_a_client_certificate_plan_refuses_serverauth() -> None:
    """The app's client certificate (plan: clientAuth only) may not come back as a server one."""
    assert _check(_csr(eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), ["clientAuth"]) == []
    assert _check(_csr(eku=[ExtendedKeyUsageOID.SERVER_AUTH]), ["clientAuth"])


def test_the_signing_step_runs_the_check_first() -> None:
    """tasks/ownca.yml: the check sits between the host's CSR and the signature and names host and cert
    (in the block of issuing steps that runs when the probe found a drift)."""
    top = yaml.safe_load((Path(__file__).parents[2] / "roles/session_pki/tasks/ownca.yml").read_text())
    tasks = [t for task in top for t in task.get("block", [task])]
    names = [t["name"] for t in tasks]
    check = names.index("Check that the host asks for exactly the planned certificate")
    build = names.index("Build the certificate signing request")
    sign = names.index("Sign the certificate on the control node")
    assert build < check < sign
    task = tasks[check]
    assert "session_pki_csr_mismatch" in task["vars"]["_session_pki_csr_problems"]
    assert "inventory_hostname" in task["ansible.builtin.assert"]["fail_msg"]
    assert "session_pki_cert_name" in task["ansible.builtin.assert"]["fail_msg"]
