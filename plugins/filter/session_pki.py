"""Filters of the session_pki role: SAN lists, the signing step's check of a host's CSR, and whether a
host trusts another CA than the control node's."""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

# Extended key usages by the names the role plans them with (vars/main.yml, _session_pki_eku).
_EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
# Key usages by their openssl names (tasks/ownca.yml plans digitalSignature, plus keyEncipherment for RSA).
_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
               "key_agreement", "key_cert_sign", "crl_sign")
_KEY_USAGE_NAMES = {"digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
                    "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
                    "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign"}
# The only extensions a host may ask for; the CA copies a CSR's extensions into the certificate
# (a basicConstraints CA:TRUE or a nameConstraints would be signed as asked).
_ALLOWED_EXTENSIONS = {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.KEY_USAGE,
                       ExtensionOID.EXTENDED_KEY_USAGE}


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def san_list(names: Iterable[object], local: bool = False) -> list[str]:
    """Turn host names and addresses into a sorted, de-duplicated SAN list.

    Empty and undefined-looking values are dropped; IP addresses become
    ``IP:`` entries (normalised), everything else ``DNS:`` (lower-cased).
    With ``local`` the loopback names are added.
    """
    candidates = [str(n).strip() for n in names if n is not None]
    if local:
        candidates += ["localhost", "127.0.0.1", "::1"]
    dns: set[str] = set()
    ips: set[str] = set()
    for value in candidates:
        if not value:
            continue
        if _is_ip(value):
            ips.add(str(ipaddress.ip_address(value)))
        else:
            dns.add(value.lower().rstrip("."))
    return [f"DNS:{d}" for d in sorted(dns)] + [f"IP:{i}" for i in sorted(ips)]


def _csr_sans(csr: x509.CertificateSigningRequest | x509.Certificate) -> list[str]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for name in ext:
        if isinstance(name, x509.DNSName):
            names.append(f"DNS:{name.value.lower().rstrip('.')}")
        elif isinstance(name, x509.IPAddress):
            names.append(f"IP:{name.value}")
        else:
            names.append(f"{type(name).__name__}:{name.value}")
    return sorted(names)


def _csr_ekus(csr: x509.CertificateSigningRequest | x509.Certificate) -> list[str]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return sorted(_EKU_NAMES.get(oid, oid.dotted_string) for oid in ext)


def _csr_key_usages(csr: x509.CertificateSigningRequest | x509.Certificate) -> list[str]:
    try:
        ext = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    used = [u for u in _KEY_USAGES if getattr(ext, u)]
    if ext.key_agreement:
        used += [u for u in ("encipher_only", "decipher_only") if getattr(ext, u)]
    return sorted(_KEY_USAGE_NAMES.get(u, u) for u in used)


def csr_mismatch(csr_pem: str, common_name: str, sans: Iterable[object], eku: Iterable[object],
                 key_usage: Iterable[object]) -> list[str]:
    """How a host's CSR differs from what the role planned for it (empty: it asks for exactly that).

    The subject must be the planned common name alone, the SAN list, extended and plain key usages
    exactly the planned ones, and no other extension may be asked for. A CSR that does not parse
    or whose signature does not verify is one difference.
    """
    try:
        csr = x509.load_pem_x509_csr(str(csr_pem).encode())
    except ValueError as exc:
        return [f"not a PEM CSR ({exc})"]
    problems: list[str] = []
    if not csr.is_signature_valid:
        problems.append("signature does not verify")
    subject = [(attr.oid, attr.value) for attr in csr.subject]
    if subject != [(NameOID.COMMON_NAME, str(common_name))]:
        problems.append(f"subject {csr.subject.rfc4514_string()!r}, planned CN={common_name}")
    checks = (("SAN", _csr_sans(csr), sorted(san_list(str(s).split(":", 1)[-1] for s in sans))),
              ("extended key usage", _csr_ekus(csr), sorted(str(e) for e in eku)),
              ("key usage", _csr_key_usages(csr), sorted(str(k) for k in key_usage)))
    for label, got, planned in checks:
        if got != planned:
            problems.append(f"{label} {', '.join(got) or '(none)'}, planned {', '.join(planned) or '(none)'}")
    extra = sorted(ext.oid.dotted_string for ext in csr.extensions if ext.oid not in _ALLOWED_EXTENSIONS)
    if extra:
        problems.append(f"extensions not planned: {', '.join(extra)}")
    return problems


def _file_problems(label: str, found: Mapping[str, Any], owner: str, group: str, mode: str) -> list[str]:
    """How a probed file's owner, group and mode differ from the plan (mode compared as a number)."""
    got = (str(found.get("owner")), str(found.get("group")), int(str(found.get("mode") or "0"), 8))
    if got == (str(owner), str(group), int(str(mode), 8)):
        return []
    return [f"{label} is {got[0]}:{got[1]} {found.get('mode')}, planned {owner}:{group} {mode}"]


def _key_problems(key: Mapping[str, Any], plan: Mapping[str, Any]) -> list[str]:
    if not key.get("exists"):
        return ["no key"]
    if key.get("error"):
        return [f"key {key['error']}"]
    problems = _file_problems("key", key, plan["key_owner"], plan["key_group"], plan["key_mode"])
    if plan["key_type"] == "rsa":
        if key.get("type") != "rsa" or int(key.get("size") or 0) != int(plan["rsa_bits"]):
            problems.append(f"key is {key.get('type')} {key.get('size')} bits, planned rsa {plan['rsa_bits']}")
    elif (key.get("type"), key.get("curve")) != ("ecdsa", "secp256r1"):
        problems.append(f"key is {key.get('type')} {key.get('curve') or key.get('size')}, planned ecdsa secp256r1")
    return problems


def _cert_problems(found: Mapping[str, Any], public_key: str, plan: Mapping[str, Any], now: datetime) -> list[str]:
    if not found.get("exists"):
        return ["no certificate"]
    certs = _certs(str(found.get("content") or ""))
    if len(certs) != 1:
        return [f"the certificate file holds {len(certs)} certificates"]
    cert = certs[0]
    problems = _file_problems("certificate", found, plan.get("file_owner", "root"), plan.get("file_group", "root"),
                              "0644")
    spki = cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if spki.decode().strip() != public_key.strip():
        problems.append("certificate is not for the host's key")
    if [(a.oid, a.value) for a in cert.subject] != [(NameOID.COMMON_NAME, str(plan["common_name"]))]:
        problems.append(f"subject {cert.subject.rfc4514_string()!r}, planned CN={plan['common_name']}")
    checks = (("SAN", _csr_sans(cert), sorted(san_list(str(s).split(":", 1)[-1] for s in plan["sans"]))),
              ("extended key usage", _csr_ekus(cert), sorted(str(e) for e in plan["eku"])),
              ("key usage", _csr_key_usages(cert), sorted(str(k) for k in plan["key_usage"])))
    for label, got, planned in checks:
        if got != planned:
            problems.append(f"{label} {', '.join(got) or '(none)'}, planned {', '.join(planned) or '(none)'}")
    signer = _certs(str(plan["signer_pem"]))[:1]
    try:
        if not signer:
            raise ValueError("no signing CA")
        # cryptography >= 40; an older control node cannot tell and takes the issuing steps.
        cert.verify_directly_issued_by(signer[0])
    except (ValueError, TypeError, InvalidSignature, AttributeError):
        problems.append("not issued by the signing CA (or not verifiable here)")
    days_left = _days_left(cert, now)
    if _outside_window(days_left, plan):
        problems.append(f"{days_left:.1f} days left, outside the window {plan['renew_days']}-{plan['valid_days']}")
    return problems


def _days_left(cert: x509.Certificate, now: datetime) -> float:
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=UTC)
    return (not_after - now).total_seconds() / 86400


def _outside_window(days_left: float, plan: Mapping[str, Any]) -> bool:
    """Fewer than renew_days left, or a lifetime beyond valid_days (issued under a longer policy)."""
    return days_left < int(plan["renew_days"]) or days_left >= int(plan["valid_days"]) + 1


def renewal_due(probe: Mapping[str, Any], plan: Mapping[str, Any], now: datetime | None = None) -> bool:
    """Whether the host's current certificate (``probe``: the session_pki_probe result) must be
    reissued for its dates alone: the signing step's ``force``. The window is drift()'s; False when
    the host has no certificate (a new one is issued anyway)."""
    found = probe.get("cert") or {}
    certs = _certs(str(found.get("content") or "")) if found.get("exists") else []
    return bool(certs) and _outside_window(_days_left(certs[0], now or datetime.now(UTC)), plan)


def drift(probe: Mapping[str, Any], plan: Mapping[str, Any], now: datetime | None = None) -> list[str]:
    """How what a host carries (``probe``: the session_pki_probe result) differs from the role's plan.

    Empty: the issuing steps (key, CSR, signing, install) would change nothing and are skipped. The key
    must exist with the planned owner, group, mode, algorithm and size; the certificate (root:root
    0644) must be the only one in its file, for that key, with exactly the planned subject, SANs, key
    usages, issued by the signing CA (``signer_pem``), with days left in [renew_days, valid_days + 1);
    the CA file, when ``ca_bundle`` is not none, must hold exactly that text (root:root 0644; the
    owner and group of both files are ``file_owner``/``file_group`` when the plan names them).
    """
    now = now or datetime.now(UTC)
    key = probe.get("key") or {}
    problems = _key_problems(key, plan)
    if "public_key" in key:
        problems += _cert_problems(probe.get("cert") or {}, str(key["public_key"]), plan, now)
    if plan.get("ca_bundle") is not None:
        ca = probe.get("ca") or {}
        if not ca.get("exists"):
            problems.append("no CA file")
        else:
            problems += _file_problems("CA file", ca, plan.get("file_owner", "root"), plan.get("file_group", "root"),
                                       "0644")
            if ca.get("content") != plan["ca_bundle"]:
                problems.append("CA file differs from the trust bundle")
    return problems


def _certs(pem: str) -> list[x509.Certificate]:
    """The certificates of a PEM text; none for an empty text or one without a certificate."""
    if "-----BEGIN CERTIFICATE-----" not in (pem or ""):
        return []
    return list(x509.load_pem_x509_certificates(pem.encode()))


def foreign_ca(host_pem: str, known_files: Iterable[object]) -> list[str]:
    """Subjects of the CA certificates a host trusts (its installed CA file) when NONE of them is in
    the control node's CA files ``known_files`` (ca.crt, ca-next.crt; missing files count as none);
    [] when the host has no CA file yet or shares one (a rollover in progress trusts old and new)."""
    host = _certs(host_pem)
    known = {cert.fingerprint(hashes.SHA256()) for path in known_files if os.path.isfile(str(path))
             for cert in _certs(Path(str(path)).read_text())}
    if not host or any(cert.fingerprint(hashes.SHA256()) in known for cert in host):
        return []
    return [f"{cert.subject.rfc4514_string()} (SHA-256 {cert.fingerprint(hashes.SHA256()).hex()[:16]}...)"
            for cert in host]


# Trust domains (defaults/main.yml): the CA file a host installs and the CA's home under session_pki_ca_dir.
DOMAINS = {"kit": ("ca.crt", ""), "redis": ("ca-redis.crt", "redis"), "dcs": ("ca-dcs.crt", "dcs"),
           "metrics": ("ca-metrics.crt", "metrics")}


def foreign_cas(slurps: Iterable[Mapping[str, Any]], ca_dir: str, dest_dir: str) -> list[str]:
    """For each trust domain's CA file read from a host (``slurps``: the slurp loop's results, item =
    the domain), what it holds that none of the control node's CAs of that domain is (foreign_ca),
    as "FILE holds SUBJECTS, not the CA in DIR" (with "(no CA there yet)" when DIR holds none)."""
    found = []
    for result in slurps:
        domain = str(result.get("item", "kit"))
        host_file, sub = DOMAINS[domain]
        home = os.path.join(ca_dir, sub) if sub else ca_dir
        pem = base64.b64decode(str(result.get("content") or "")).decode(errors="replace")
        foreign = foreign_ca(pem, [os.path.join(home, "ca.crt"), os.path.join(home, "ca-next.crt")])
        if foreign:
            empty = "" if os.path.isfile(os.path.join(home, "ca.crt")) else " (no CA there yet: a run would create one)"
            found.append(f"{dest_dir}/{host_file} holds {'; '.join(foreign)}, not the CA in {home}{empty}")
    return found


def inventory_dirs(sources: Iterable[object]) -> list[str]:
    """The directory of each inventory source (itself, or a file's directory), in order, without
    duplicates; sources that are neither (a host list such as "host1,host2,") give none."""
    found: list[str] = []
    for source in sources or []:
        path = os.path.realpath(str(source))
        folder = path if os.path.isdir(path) else os.path.dirname(path) if os.path.isfile(path) else ""
        if folder and folder not in found:
            found.append(folder)
    return found


def within(path: object, folders: Iterable[object]) -> bool:
    """Whether ``path`` is one of ``folders`` or lies below one (symlinks resolved)."""
    real = os.path.realpath(str(path))
    return any(os.path.commonpath([real, os.path.realpath(str(f))]) == os.path.realpath(str(f)) for f in folders)


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"session_pki_san_list": san_list, "session_pki_csr_mismatch": csr_mismatch,
                "session_pki_drift": drift, "session_pki_renewal_due": renewal_due,
                "session_pki_foreign_ca": foreign_ca, "session_pki_foreign_cas": foreign_cas,
                "session_pki_inventory_dirs": inventory_dirs,
                "session_pki_within": within}
