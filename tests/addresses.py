"""Every fixed loopback address the tests use, taken from one network that ``EKUSCAN_TEST_NET`` can move.

A server on port 0 needs nothing from here: the kernel picks a free port. But the lab serves the
Expressway ports (5061, 7001, 8443, 443) on addresses of its own, and a few other tests bind fixed
ports or sweep fixed ranges. Two test runs on one machine (two worktrees, two developers, CI beside
a developer) would then fail to bind, or worse, scan each other's servers. So every such address is
a /24 block at a fixed place in one /16 network, and that network comes from the environment:

    EKUSCAN_TEST_NET=127.0.0.0/16   the default: the addresses the tests have always used
    EKUSCAN_TEST_NET=127.9.0.0/16   a second run beside it: 127.0.42.1 becomes 127.9.42.1, ...

The value is a /16 inside 127.0.0.0/8, written ``127.9.0.0/16`` or just ``127.9.0.0``; anything else
stops the run before a test starts. Linux routes all of 127.0.0.0/8 to loopback, so any such network
works without setup. Avoid the networks the benchmarks sweep (127.1.0.0/16, 127.77.0.0/16). The
demo lab (`make demo`, 127.0.2.0/24) is never in the way: no test binds block 2.
"""

from __future__ import annotations

import ipaddress
import os

ENVIRONMENT_VARIABLE = "EKUSCAN_TEST_NET"
DEFAULT_TEST_NET = "127.0.0.0/16"
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def parse_test_net(text: str) -> ipaddress.IPv4Network:
    """The /16 a value of EKUSCAN_TEST_NET names; ValueError unless it is one inside 127.0.0.0/8."""
    spelled = text.strip() if "/" in text else f"{text.strip()}/16"
    try:
        net = ipaddress.ip_network(spelled)
    except ValueError as exc:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={text!r} is not a network such as 127.9.0.0/16") from exc
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen != 16 or not net.subnet_of(LOOPBACK):
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE}={text!r} must be a /16 inside 127.0.0.0/8, e.g. 127.9.0.0/16"
        )
    return net


TEST_NET = parse_test_net(os.environ.get(ENVIRONMENT_VARIABLE, DEFAULT_TEST_NET))


def block(third: int) -> ipaddress.IPv4Network:
    """The /24 at ``third`` in TEST_NET: 127.0.<third>.0/24 with the default network."""
    if not 0 <= third < 256:
        raise ValueError(f"block {third}: a /16 has 256 blocks of /24")
    net = ipaddress.IPv4Network((int(TEST_NET.network_address) + (third << 8), 24))
    assert net.subnet_of(LOOPBACK), net  # the tests talk to loopback only, whatever the environment says
    return net


# Each user of fixed addresses has its own block, so that tests in one run never meet either.
PLAN = block(2)  # test_lab: address plans only, nothing binds (the demo lab's default base is .2.0)
LAB = block(42)  # the session lab (conftest.lab): one host per address from LAB[1]
LIVE_SWEEP = block(43)  # test_live: a /24 sweep that must find exactly the servers started in it
POOL = block(44)  # test_sweep: servers on fixed addresses (some on fixed ports) and silent listeners
CLI_LAB = block(45)  # test_cli: `ekuscan lab` in a subprocess
HISTORY_LAB = block(47)  # test_history_cli: two labs, one after the other, on the same addresses
CLOSED = block(48)  # test_history_cli: a host where nothing listens
HOSTILE = block(50)  # tests/hostile.py: the output-safety tests' servers, on fixed Expressway ports
ISSUERS = block(49)  # test_chain_cli: two hosts whose leaves name one issuer URL (--workers 2)
LISTEN = block(51)  # test_listen: `ekuscan listen` on the SIP port 5061, scanned by `ekuscan scan`
PAIRING = block(61)  # test_pairing_live: openssl s_server as an Expressway-E on its traversal port 7001
PREFLIGHT = block(52)  # test_preflight: verifying servers on an Expressway-E's traversal port 7001

LAB_BASE = str(LAB.network_address)
LAB_SWEEP = str(next(LAB.subnets(new_prefix=26)))  # the session lab's hosts and closed addresses around them
PLAN_BASE = str(PLAN.network_address)
CLI_LAB_BASE = str(CLI_LAB.network_address)
HISTORY_LAB_BASE = str(HISTORY_LAB.network_address)
CLOSED_HOST = str(CLOSED[1])
LISTEN_HOST = str(LISTEN[1])
DNS_SERVER = str(block(0)[153])  # test_dns: the only resolver the scan may ask
DNS_MULTI = (str(HISTORY_LAB[21]), str(HISTORY_LAB[22]))  # test_dns: one name, two addresses, past that lab
