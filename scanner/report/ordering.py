"""The order of the inventory: hosts by address (IPv4 numerically, then IPv6, then names), then port."""

from __future__ import annotations

import ipaddress

from scanner.model import EndpointReport

HostSortKey = tuple[tuple[int, str | int], str]
EndpointSortKey = tuple[tuple[int, str | int], str, str, int]


def _host_key(host: str) -> tuple[int, str | int]:
    """Sort hosts: IPv4 numerically, then IPv6, then names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (2, host)
    return (address.version // 6, int(address))


def host_sort_key(host: str) -> HostSortKey:
    # The text as well: two spellings of one IPv6 address are two hosts of the target list.
    return (_host_key(host), host)


def endpoint_sort_key(report: EndpointReport) -> EndpointSortKey:
    ep = report.endpoint
    return (*host_sort_key(ep.host), ep.ip or "", ep.port)
