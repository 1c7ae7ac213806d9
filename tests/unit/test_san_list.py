"""SAN list filter of the session_pki role."""

from __future__ import annotations

from session_pki import FilterModule, san_list


def test_dns_and_ip_are_split_sorted_and_deduplicated() -> None:
    out = san_list(["Redis-1.Example.org.", "10.0.0.5", "redis-1.example.org", "", None, "10.0.0.5"])
    assert out == ["DNS:redis-1.example.org", "IP:10.0.0.5"]


def test_ipv6_is_normalised() -> None:
    assert san_list(["2001:DB8:0:0::1"]) == ["IP:2001:db8::1"]


def test_local_adds_loopback_names() -> None:
    assert san_list(["store"], local=True) == ["DNS:localhost", "DNS:store", "IP:127.0.0.1", "IP:::1"]


def test_filter_is_registered() -> None:
    assert FilterModule().filters()["session_pki_san_list"] is san_list
