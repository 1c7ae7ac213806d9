"""Redis/Valkey session stores: connections, proven from a client's side.

TLS only, with the profile's versions, ciphers and key exchange groups, a
server certificate checked by name and, on mTLS stores, a client
certificate. Every claim has the connection that must work and the one that
must be refused. Real servers only: redis-py against the store's TLS port.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import redis
from conftest import no_retry
from redis_client import Store, app_user, connect, listening, needs_cert
from tlsprobe import client_context, handshake, openssl_groups_handshake

# --- transport -------------------------------------------------------------

def test_plaintext_to_tls_port_is_refused(redis_store: Store) -> None:
    plain = redis.Redis(host=redis_store["host"], port=int(redis_store["port"]), socket_timeout=5, protocol=2,
                        retry=no_retry())
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()


def test_only_the_tls_port_listens(redis_store: Store) -> None:
    ports, unix = listening(redis_store["name"], redis_store["service"], redis_store["user"])
    assert ports == {str(redis_store["tls_port"])}
    assert not unix


def test_tls_1_1_is_refused(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    old = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_1,
                         max_version=ssl.TLSVersion.TLSv1_1, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], old)
    # The server's alert, not a client-side refusal to offer TLS 1.1.
    assert not result.ok and "ALERT_PROTOCOL_VERSION" in result.error, result
    # Control: the same client construction with TLS 1.2 gets through.
    good = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_2,
                          max_version=ssl.TLSVersion.TLSv1_2, cert=cert)
    control = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], good)
    assert control.ok and control.version == "TLSv1.2", control


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
def test_non_profile_tls12_cipher_is_refused(redis_store: Store, client_cert: tuple[str, str] | None,
                                             cipher: str) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert not result.ok and "ALERT_HANDSHAKE_FAILURE" in result.error, result


def test_profile_tls12_cipher_works(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], max_version=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert result.ok and result.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", result


def test_tls13_works(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], min_version=ssl.TLSVersion.TLSv1_3, cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), redis_store["server_name"], ctx)
    assert result.ok and result.version == "TLSv1.3", result


def test_key_exchange_groups_follow_the_profile(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    args = (redis_store["host"], int(redis_store["port"]), redis_store["ca_cert_local"])
    assert not openssl_groups_handshake(*args, "secp521r1", cert=cert)
    assert not openssl_groups_handshake(*args, "ffdhe2048", cert=cert)
    assert openssl_groups_handshake(*args, "prime256v1", cert=cert)
    assert openssl_groups_handshake(*args, "X25519", cert=cert)


def test_server_certificate_fails_for_a_wrong_name(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    cert = client_cert if needs_cert(redis_store) else None
    ctx = client_context(redis_store["ca_cert_local"], cert=cert)
    result = handshake(redis_store["host"], int(redis_store["port"]), "not-the-store.invalid", ctx)
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error, result


def test_mtls_client_without_certificate_is_refused(redis_store: Store, client_cert: tuple[str, str] | None) -> None:
    if not needs_cert(redis_store):
        pytest.skip("tls-auth-clients is not 'yes' on this store")
    user = app_user(redis_store)
    without = connect(redis_store, client_cert, user["name"], user["password"], with_cert=False)
    with pytest.raises((redis.ConnectionError, ssl.SSLError, socket.error)):
        without.ping()
    assert connect(redis_store, client_cert, user["name"], user["password"]).ping()
