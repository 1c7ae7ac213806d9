"""Small TLS client helpers for hardening tests (handshake-level probes)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Handshake:
    """Outcome of one TLS handshake attempt."""

    ok: bool
    version: str | None = None
    cipher: str | None = None
    error: str = ""


def client_context(
    ca_cert: str,
    *,
    min_version: ssl.TLSVersion | None = None,
    max_version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    cert: tuple[str, str] | None = None,
) -> ssl.SSLContext:
    """A verifying client context that can still offer legacy versions.

    SECLEVEL=0 lets the client itself offer TLS 1.0/1.1 and weak ciphers, so a
    refused handshake is the server's refusal, not the client's.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca_cert)
    ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def handshake(host: str, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float = 5.0) -> Handshake:
    """Try a handshake and, for TLS 1.3 late alerts, one round trip (PING)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            version = tls.version()
            negotiated = tls.cipher()
            cipher = negotiated[0] if negotiated else None
            # With TLS 1.3 a refused client certificate surfaces only on the
            # first read: PING proves the session is really usable.
            tls.sendall(b"*1\r\n$4\r\nPING\r\n")
            data = tls.recv(64)
            if not data:
                return Handshake(False, version, cipher, "connection closed after handshake")
            return Handshake(True, version, cipher)
    except (ssl.SSLError, OSError) as exc:
        return Handshake(False, error=f"{type(exc).__name__}: {exc}")


def openssl_groups_handshake(host: str, port: int, ca_cert: str, groups: str,
                             cert: tuple[str, str] | None = None) -> bool:
    """Whether a handshake that offers only `groups` for key exchange succeeds.

    Python's ssl module cannot restrict client groups, the openssl CLI can.
    """
    cmd = ["openssl", "s_client", "-connect", f"{host}:{port}", "-CAfile", ca_cert,
           "-groups", groups, "-verify_return_error", "-brief"]
    if cert is not None:
        cmd += ["-cert", cert[0], "-key", cert[1]]
    result = subprocess.run(cmd, input=b"", capture_output=True, timeout=20, check=False)
    output = (result.stdout + result.stderr).decode(errors="replace")
    return result.returncode == 0 and "CONNECTION ESTABLISHED" in output
