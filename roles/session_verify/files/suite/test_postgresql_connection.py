"""PostgreSQL session stores: connections, proven from a client's side.

TLS only (hostssl), with the profile's minimum version, ciphers and curve, a
server certificate checked by name and, where clientcert is set, a client
certificate; every claim has the connection that must work and the one that
must be refused.

psycopg 3 talks to the real server through the published port with
sslmode=verify-full, like an app host; testinfra inspects the host (catalog
as the postgres superuser over the local socket). HA stores are one entry
per member: every test runs against every member, writes go to the current
primary (pg_client.primary_of).
"""

from __future__ import annotations

import ssl

import pytest
from pg_client import Store, cert_for, connect, needs_cert, openssl_group_works, pg_handshake, refused
from tlsprobe import client_context

# --- transport ----------------------------------------------------------------------

def test_plaintext_connection_is_refused(pg_store: Store) -> None:
    message = refused(pg_store, sslmode="disable")
    assert "no pg_hba.conf entry" in message and "no encryption" in message, message


def test_tls_1_1_is_refused(pg_store: Store) -> None:
    old = client_context(pg_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_1,
                         max_version=ssl.TLSVersion.TLSv1_1, cert=cert_for(pg_store))
    result = pg_handshake(pg_store, old)
    assert not result.ok, result
    # Control: the same client construction with the lowest allowed version.
    lowest = ssl.TLSVersion[pg_store["ssl_min_protocol_version"].replace("TLSv1.", "TLSv1_")]
    good = client_context(pg_store["ca_cert_local"], min_version=lowest, max_version=lowest, cert=cert_for(pg_store))
    control = pg_handshake(pg_store, good)
    assert control.ok and control.version == pg_store["ssl_min_protocol_version"], control


def test_tls_1_2_follows_the_minimum_version(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    if pg_store["ssl_min_protocol_version"] == "TLSv1.3":
        assert not result.ok, result
    else:
        assert result.ok and result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", result


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
def test_non_profile_tls12_cipher_is_refused(pg_store: Store, cipher: str) -> None:
    ctx = client_context(pg_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher,
                         cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    assert not result.ok, result


def test_tls13_works(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_3, cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx)
    assert result.ok and result.version == "TLSv1.3", result


def test_key_exchange_group(pg_store: Store) -> None:
    # PostgreSQL 15/17 take a single curve (ssl_groups is 18+): the configured one.
    assert openssl_group_works(pg_store, pg_store["ssl_ecdh_curve"])
    assert not openssl_group_works(pg_store, "secp521r1")


def test_server_certificate_fails_for_a_wrong_name(pg_store: Store) -> None:
    ctx = client_context(pg_store["ca_cert_local"], cert=cert_for(pg_store))
    result = pg_handshake(pg_store, ctx, server_name="not-the-store.invalid")
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error, result


def test_connection_uses_tls_from_the_profile(pg_store: Store) -> None:
    with connect(pg_store) as conn:
        row = conn.execute("SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    version, cipher = row
    assert version in ("TLSv1.2", "TLSv1.3")
    if version == "TLSv1.2":
        assert cipher in pg_store["ssl_ciphers"].split(":")


def test_client_without_certificate_is_refused_when_required(pg_store: Store) -> None:
    if not needs_cert(pg_store):
        pytest.skip("clientcert is none on this store")
    message = refused(pg_store, with_cert=False)
    assert "certificate" in message.lower(), message
    connect(pg_store).close()
