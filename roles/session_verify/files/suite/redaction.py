"""Redaction of secrets in every form the suite's output and the audit report may show them.

A secret reaches a failure message or a report not only literally: a phpredis save_path holds
it percent-encoded, a JSON document (Redis ACL GETUSER, a session payload, pytest's --json)
JSON-escaped, PHP's var_export / single-quoted literals and addslashes with backslashes, an
assertion's operands as Python reprs, HTTP Basic credentials and many APIs base64-encoded
(at any byte offset of the encoded whole), a RESP check in haproxy.cfg as hex. ``forms``
lists them all; ``redact`` replaces each, longest first.

Used by the suite's conftest (failure reports) and by verify_report.py (report.md, junit.xml).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

REDACTED = "<redacted>"
# A base64 fragment shorter than this could occur by chance: not redacted (the literal is).
MIN_BASE64_FRAGMENT = 8


def _base64_fragments(raw: bytes, encode: Iterable[Callable[[bytes], bytes]]) -> set[str]:
    """The base64 characters that encode only ``raw``, whatever its offset in a longer input."""
    fragments: set[str] = set()
    for encoder in encode:
        for offset in range(3):
            whole = encoder(b"\0" * offset + raw).decode().rstrip("=")
            fragment = whole[(8 * offset + 5) // 6: (8 * (offset + len(raw))) // 6]
            if len(fragment) >= MIN_BASE64_FRAGMENT:
                fragments.add(fragment)
    return fragments


def _php_single(text: str) -> str:
    """A PHP single-quoted literal's body (var_export, the kit's php_quote)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _addslashes(text: str) -> str:
    """PHP addslashes (also a double-quoted PHP or shell string body)."""
    return re.sub(r"([\\'\"])", r"\\\1", text).replace("\0", "\\0")


def forms(secret: str) -> set[str]:
    """The literal secret and every encoded form of it the report sources may hold."""
    if not secret:
        return set()
    raw = secret.encode()
    json_body = json.dumps(secret)[1:-1]
    found = {
        secret,
        quote(secret, safe=""), quote(secret), quote_plus(secret),
        json_body, json.dumps(secret, ensure_ascii=False)[1:-1], json_body.replace("/", "\\/"),
        json.dumps(json_body)[1:-1],
        _php_single(secret), _addslashes(secret),
        repr(secret)[1:-1], secret.encode("unicode_escape").decode(),
        html.escape(secret), html.escape(secret, quote=False),
        binascii.hexlify(raw).decode(), binascii.hexlify(raw).decode().upper(),
    }
    # Percent-encoding with lower-case hex digits (some encoders): %2f for %2F.
    found |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in list(found) if "%" in f}
    found |= _base64_fragments(raw, (base64.b64encode, base64.urlsafe_b64encode))
    return {f for f in found if f}


def all_forms(secrets: Iterable[str]) -> list[str]:
    """Every form of every secret, longest first (a form may contain another)."""
    found: set[str] = set()
    for secret in secrets:
        found |= forms(secret)
    return sorted(found, key=lambda f: (-len(f), f))


def redact(text: str, hidden: list[str]) -> str:
    """``text`` with every string of ``hidden`` (all_forms' result) replaced by <redacted>."""
    for form in hidden:
        text = text.replace(form, REDACTED)
    return text
