"""Filters of the Redis HA group: primary discovery (redis_session_store) and
the proxy's RESP encoding (redis_session_proxy)."""

from __future__ import annotations

from role_filters import load

STORE = load("redis_session_store")
PROXY = load("redis_session_proxy")
PEERS = ["n1", "n2", "n3"]


def test_new_group_follows_the_hint() -> None:
    lines = ["sentinel n1 ", "role n1 master connected_slaves:0", "sentinel n2 ", "role n2 master connected_slaves:0",
             "sentinel n3 ", "role n3 "]
    state = STORE.ha_primary(lines, PEERS, "n1")
    assert state["primary"] == "n1" and "hint" in state["source"]
    assert state["roles"] == {"n1": {"role": "master", "replicas": 0}, "n2": {"role": "master", "replicas": 0}}


def test_sentinels_win_over_the_hint_after_a_failover() -> None:
    lines = ["sentinel n1 n2 6379", "role n1 slave", "sentinel n2 n2 6379", "role n2 master connected_slaves:2",
             "sentinel n3 n2 6379", "role n3 slave"]
    assert STORE.ha_primary(lines, PEERS, "n1")["primary"] == "n2"


def test_sentinel_majority_wins_and_strangers_are_ignored() -> None:
    lines = ["sentinel n1 n3 6379", "sentinel n2 n3 6379", "sentinel n3 evil 6379"]
    assert STORE.ha_primary(lines, PEERS, "n1")["primary"] == "n3"
    # A tie between Sentinels is no answer: fall back to the node with replicas.
    tie = ["sentinel n1 n2 6379", "sentinel n2 n3 6379", "role n3 master connected_slaves:1", "role n2 slave"]
    assert STORE.ha_primary(tie, PEERS, "n1")["primary"] == "n3"


def test_without_sentinels_the_primary_with_replicas_wins() -> None:
    lines = ["sentinel n1 ", "role n1 master connected_slaves:0", "sentinel n2 ", "role n2 master connected_slaves:2",
             "sentinel n3 ", "role n3 slave"]
    assert STORE.ha_primary(lines, PEERS, "n1")["primary"] == "n2"


def test_error_answers_are_no_votes() -> None:
    lines = ["sentinel n1 NOAUTH Authentication required.", "sentinel n2 ERR unknown", "role n1 (error) NOPERM"]
    state = STORE.ha_primary(lines, PEERS, "n1")
    assert state["primary"] == "n1" and state["roles"] == {}


def test_ha_passwords_are_checked_and_must_differ() -> None:
    base = {"min_password_length": 16, "admin_user": "kitadmin", "admin_password": "A" * 24, "reload_user": "r",
            "app_users": [], "app_commands": ["get"], "tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256",
            "tls_ciphersuites": "TLS_AES_128_GCM_SHA256"}
    ha = {**base, "ha": True, "replication_password": "R" * 24, "sentinel_password": "S" * 24,
          "check_password": "C" * 24}
    assert STORE.problems(base) == []
    assert STORE.problems(ha) == []
    assert any("redis_session_store_check_password" in p for p in STORE.problems({**ha, "check_password": ""}))
    same = STORE.problems({**ha, "sentinel_password": "R" * 24})
    assert same and all("R" * 24 not in p for p in same)


def test_resp_encoding() -> None:
    encoded = bytes.fromhex(PROXY.resp_hex(["AUTH", "u", "p w\r\n"]))
    assert encoded == b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$5\r\np w\r\n\r\n"
    assert bytes.fromhex(PROXY.resp_hex(["INFO", "replication"])) == b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n"
