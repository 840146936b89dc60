"""The inventory's byte sort keys order exactly as the tuples they stand for, and keep hosts apart."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from scanner.report.ordering import host_sort_key, is_key_of_host


def _tuple_key(host: str, ip: str, port: int) -> tuple[tuple[int, str | int], str, str, int]:
    """The order the inventory has always had: IPv4 numerically, then IPv6, then names, then
    the host's text, the endpoint's address and its port."""
    try:
        address = ipaddress.ip_address(host)
        family: tuple[int, str | int] = (address.version // 6, int(address))
    except ValueError:
        family = (2, host)
    return (family, host, ip, port)


def _byte_key(host: str, ip: str, port: int) -> bytes:
    from scanner.report.ordering import _text  # the endpoint key without building a report

    return host_sort_key(host) + _text(ip) + port.to_bytes(4, "big")


texts = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=6)
hosts = st.one_of(
    texts,
    st.sampled_from(["a", "a\x00", "a\x00b", "ab", "", "\x00", "\x01"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),  # a second spelling of one IPv6 address
)
endpoints = st.tuples(hosts, st.one_of(texts, hosts), st.integers(0, 65535))


@given(st.lists(endpoints, max_size=30))
def test_bytes_sort_as_the_tuples(items: list[tuple[str, str, int]]) -> None:
    assert sorted(items, key=lambda e: _byte_key(*e)) == sorted(items, key=lambda e: _tuple_key(*e))


@given(endpoints, hosts)
def test_a_key_belongs_to_its_host_only(endpoint: tuple[str, str, int], other: str) -> None:
    host = endpoint[0]
    assert is_key_of_host(_byte_key(*endpoint), host)
    assert is_key_of_host(_byte_key(*endpoint), other) == (other == host)


def test_known_order() -> None:
    names = ["10.0.0.2", "example.org", "9.255.255.255", "::1", "10.0.0.10", "0:0:0:0:0:0:0:1", "a"]
    assert sorted(names, key=host_sort_key) == [
        "9.255.255.255",
        "10.0.0.2",
        "10.0.0.10",
        "0:0:0:0:0:0:0:1",
        "::1",
        "a",
        "example.org",
    ]
