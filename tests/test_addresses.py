"""The tests' fixed loopback addresses: one movable network, never anything outside 127.0.0.0/8."""

from __future__ import annotations

import ipaddress

import pytest

from scanner.lab import ESTATE
from tests import addresses


def test_every_fixed_address_is_in_the_test_network_on_loopback():
    fixed = [
        addresses.LAB_BASE,
        addresses.PLAN_BASE,
        addresses.CLI_LAB_BASE,
        addresses.HISTORY_LAB_BASE,
        addresses.CLOSED_HOST,
        addresses.DNS_SERVER,
        *addresses.DNS_MULTI,
    ]
    for text in fixed:
        address = ipaddress.IPv4Address(text)
        assert address in addresses.TEST_NET and address in addresses.LOOPBACK, text
    assert ipaddress.IPv4Network(addresses.LAB_SWEEP).subnet_of(addresses.LAB)


def test_the_blocks_that_are_bound_do_not_overlap():
    bound = [addresses.LAB, addresses.LIVE_SWEEP, addresses.POOL, addresses.CLI_LAB, addresses.CLOSED]
    assert len({net.network_address for net in bound}) == len(bound)
    # test_dns's two addresses share the history block, above the hosts of the labs there.
    assert all(ipaddress.IPv4Address(a) > addresses.HISTORY_LAB[len(ESTATE)] for a in addresses.DNS_MULTI)


def test_the_default_keeps_the_addresses_the_tests_always_had():
    net = addresses.parse_test_net(addresses.DEFAULT_TEST_NET)
    assert net == ipaddress.IPv4Network("127.0.0.0/16")


@pytest.mark.parametrize(
    ("value", "network"),
    [("127.9.0.0/16", "127.9.0.0/16"), ("127.9.0.0", "127.9.0.0/16"), (" 127.200.0.0 ", "127.200.0.0/16")],
)
def test_a_network_can_be_written_with_or_without_its_prefix(value, network):
    assert addresses.parse_test_net(value) == ipaddress.IPv4Network(network)


@pytest.mark.parametrize(
    "value",
    ["10.0.0.0/16", "128.0.0.0/16", "127.0.0.0/8", "127.9.0.0/24", "127.9.1.0", "::1", "2001:db8::", "lab"],
)
def test_anything_but_a_loopback_slash_16_is_refused(value):
    with pytest.raises(ValueError, match="EKUSCAN_TEST_NET"):
        addresses.parse_test_net(value)
