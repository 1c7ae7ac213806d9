"""Days left of the kit's certificates (the audit's renewal alarm).

Certificates renew only when someone converges (session_pki_renew_days);
a scheduled audit reads every kit certificate, lists its days left and
fails below session_verify_cert_min_days. Pure functions here: the suite's
test_certificates.py reads the files, verify_report.py renders the table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

# Name of the JUnit property (pytest record_property) carrying one host's certificates as JSON.
PROPERTY = "kit_certificates"


@dataclass(frozen=True)
class Cert:
    """One certificate of one file on one host (a bundle file holds several)."""

    host: str
    path: str
    subject: str
    not_after: str
    days_left: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until not_after, rounded down (negative once expired): 29.9 days left is 29."""
    return math.floor((not_after - now).total_seconds() / 86400)


def read_bundle(host: str, path: str, pem: str, now: datetime | None = None) -> list[Cert]:
    """Every certificate of a PEM text (one file), with its days left at ``now``."""
    when = now or datetime.now(tz=UTC)
    certs = []
    for cert in x509.load_pem_x509_certificates(pem.encode()):
        end = cert.not_valid_after_utc
        certs.append(Cert(host=host, path=path, subject=cert.subject.rfc4514_string(),
                          not_after=end.strftime("%Y-%m-%d %H:%M UTC"), days_left=days_left(end, when)))
    return certs


def split_dump(text: str) -> dict[str, str]:
    """Files of a dump written as "== PATH" lines each followed by the file's content."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = files.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return {path: "\n".join(lines) + "\n" for path, lines in files.items()}


def below(certs: list[Cert], min_days: int) -> list[Cert]:
    """The certificates with fewer than ``min_days`` days left, soonest first."""
    return sorted((c for c in certs if c.days_left < min_days), key=lambda c: (c.days_left, c.host, c.path))


def describe(cert: Cert) -> str:
    return f"{cert.host}:{cert.path} ({cert.subject}) expires {cert.not_after}: {cert.days_left} days left"
