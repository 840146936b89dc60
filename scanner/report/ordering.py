"""The order of the inventory: hosts by address (IPv4 numerically, then IPv6, then names), then port.

The keys are bytes that sort as the tuples they stand for: (family, address as a number or the
name, the host's text, the endpoint's address, the port). A sorted output keeps one key per
endpoint in memory until it is written (``report.spooling``), so a key is one small object, not
a tuple of a tuple, two strings and two numbers (some 80 bytes instead of 400 at 100,000
endpoints), and it holds no reference into the report it came from.

How the bytes keep the order: the family is one byte (IPv4 0, IPv6 1, names 2); an address is
a number of fixed width (4 or 16 bytes, big-endian); a text is its UTF-8 (which orders as its
code points do, as Python's ``str`` compares) with each NUL written as NUL 0x01 and a NUL NUL
after it, so a text sorts before every longer text it begins, and no key of one host begins
another host's key.
"""

from __future__ import annotations

import ipaddress

from scanner.model import EndpointReport

HostSortKey = bytes
EndpointSortKey = bytes

_IPV4, _IPV6, _NAME = b"\x00", b"\x01", b"\x02"
_TEXT_END = b"\x00\x00"


def _text(value: str) -> bytes:
    # surrogatepass: a name from a file may hold a lone surrogate; its bytes still sort by code point
    return value.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\x01") + _TEXT_END


def _host_key(host: str) -> bytes:
    """Sort hosts: IPv4 numerically, then IPv6, then names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _NAME + _text(host)
    if address.version == 4:
        return _IPV4 + address.packed
    return _IPV6 + address.packed


def host_sort_key(host: str) -> HostSortKey:
    # The text as well: two spellings of one IPv6 address are two hosts of the target list.
    return _host_key(host) + _text(host)


def endpoint_sort_key(report: EndpointReport) -> EndpointSortKey:
    ep = report.endpoint
    return host_sort_key(ep.host) + _text(ep.ip or "") + ep.port.to_bytes(4, "big")


def is_key_of_host(key: EndpointSortKey, host: str) -> bool:
    """Whether an endpoint's key is one of ``host``'s endpoints (no key of one host begins another's)."""
    return key.startswith(host_sort_key(host))
