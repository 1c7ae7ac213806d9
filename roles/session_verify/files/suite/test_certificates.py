"""Every kit certificate: its days left, and the renewal alarm.

Certificates renew only when someone converges (session_pki_renew_days):
this check lists every kit certificate on every store and app host (the
directories the stores' client views name, plus session_verify_cert_dirs)
and in the control node's CA directory, with its days left, and fails when
one has fewer than session_verify_cert_min_days left. A scheduled audit
(playbooks/audit.yml) is therefore the alarm: converge to renew.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cert_expiry import PROPERTY, Cert, below, describe, read_bundle, split_dump
from conftest import CONTEXT, host_for

SETTINGS: dict[str, Any] = CONTEXT.get("certificates") or {}
MIN_DAYS = int(SETTINGS.get("min_days", 30))
# Retired CAs (after a rollover's drop step) are kept for the record, trusted nowhere.
SKIP_PARTS = {"retired"}


def _host_dirs() -> dict[str, list[str]]:
    """Each managed host -> the directories holding its kit certificates."""
    dirs: dict[str, set[str]] = {}
    extra = [str(d) for d in SETTINGS.get("host_dirs", [])]
    for kind, keys in (("redis", ("tls_cert", "ca_cert")), ("postgresql", ("tls_cert", "ca_cert", "patroni_cert"))):
        for store in CONTEXT.get(kind, []):
            found = dirs.setdefault(str(store["name"]), set(extra))
            found.update(str(store[k]).rsplit("/", 1)[0] for k in keys if store.get(k))
    for app in CONTEXT.get("apps", []):
        dirs.setdefault(str(app["name"]), set(extra))
    return {host: sorted(found) for host, found in sorted(dirs.items())}


HOST_DIRS = _host_dirs()

# One shell loop per host (one Ansible call): print "== PATH" then the file, for every *.crt.
DUMP = 'for d in "$@"; do for f in "$d"/*.crt; do [ -f "$f" ] && printf "== %s\\n" "$f" && cat "$f"; done; done; true'


def _report(record: Callable[[str, object], None], name: str, certs: list[Cert]) -> None:
    record(f"{PROPERTY}:{name}", json.dumps({"min_days": MIN_DAYS, "certificates": [c.as_dict() for c in certs]}))


@pytest.mark.parametrize("name", list(HOST_DIRS) or [pytest.param("", marks=pytest.mark.skip(reason="no hosts"))])
def test_host_certificates_have_days_left(name: str, record_testsuite_property: Callable[[str, object], None]) -> None:
    """Every kit certificate on the host has at least session_verify_cert_min_days left."""
    host = host_for(name)
    args = {"argv": ["sh", "-c", DUMP, "sh", *HOST_DIRS[name]]}
    result = host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True)
    problem = result.get("stderr") or result.get("msg")
    assert result.get("rc") == 0, f"reading {HOST_DIRS[name]} on {name} failed: {problem}"
    certs = [c for path, pem in split_dump(str(result.get("stdout", ""))).items() for c in read_bundle(name, path, pem)]
    _report(record_testsuite_property, name, certs)
    # Every store and app host serves TLS with a kit certificate: none found is a broken audit, not a pass.
    assert certs, f"no certificate under {', '.join(HOST_DIRS[name])} on {name}"
    short = below(certs, MIN_DAYS)
    assert not short, (f"{len(short)} certificate(s) below {MIN_DAYS} days (session_verify_cert_min_days); "
                       "converge to renew them: " + "; ".join(describe(c) for c in short))


def test_control_node_certificates_have_days_left(record_testsuite_property: Callable[[str, object], None]) -> None:
    """The CAs and client certificates kept on the control node have at least session_verify_cert_min_days left."""
    pki = Path(str(SETTINGS.get("pki_dir") or "/nonexistent"))
    if not SETTINGS.get("pki_dir") or not pki.is_dir():
        where = SETTINGS.get("pki_dir") or "session_pki_mode provided"
        pytest.skip(f"no kit CA directory on the control node ({where})")
    certs = [c for path in sorted(pki.rglob("*.crt")) if not SKIP_PARTS & set(path.relative_to(pki).parts)
             for c in read_bundle("control node", str(path), path.read_text())]
    _report(record_testsuite_property, "control node", certs)
    assert certs, f"no certificate under {pki}"
    short = below(certs, MIN_DAYS)
    assert not short, (f"{len(short)} certificate(s) below {MIN_DAYS} days (session_verify_cert_min_days): "
                       + "; ".join(describe(c) for c in short))
