"""Issue 14's levers, each held to what it must not change: groups, parse cache, forked workers, defaults.

Nothing here is timed: speed is measured by ``bench/`` (``make bench``). These tests check
that each shortcut gives what the long way gave, and that the default worker count is the
rule the README states.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from OpenSSL import SSL

from scanner.core.trust import RootStore
from scanner.edge.connect import ConnectWatcher, NotConnected, RawConnected, open_tcp
from scanner.edge.judging import HostJudge
from scanner.edge.sizing import MAX_WORKERS, PROBES_PER_PROCESS, default_workers
from scanner.lab import Behaviour, LabPKI
from scanner.model import Endpoint, EndpointReport, Observation, Status
from scanner.protocol.groups import prefer_classical_groups
from scanner.protocol.tls import ClientHandshake, make_client_context
from scanner.report.inventory import Inventory, is_listed
from tests.conftest import context
from tests.factories import SA, make_chain
from tests.netutil import context_for, endpoint, lab_leaf, scan, serve, tls_handler

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


# --- groups ---------------------------------------------------------------------------------


def _client_hello(tls_context: SSL.Context) -> bytes:
    hs = ClientHandshake(tls_context, server_name="a.example")
    hs.next_event()
    return hs.data_to_send()


def test_the_client_hello_carries_one_classical_key_share():
    small, default = _client_hello(make_client_context()), _client_hello(SSL.Context(SSL.TLS_METHOD))
    assert len(small) < 600 < len(default) or len(default) < 600  # an OpenSSL without the hybrid: both small
    assert prefer_classical_groups(SSL.Context(SSL.TLS_METHOD)) is not None


def _restrict_groups(tls_context: SSL.Context, groups: bytes) -> bool:
    from OpenSSL._util import lib

    return bool(lib.SSL_CTX_set1_curves_list(tls_context._context, groups) == 1)


@pytest.mark.parametrize("groups", [b"X25519MLKEM768", b"secp384r1", b"secp521r1", b"X25519"])
async def test_a_server_of_one_group_still_shows_its_chain(nursery, pki, groups):
    """The hybrid-only server (and one of a single classical group) answers X25519 with a
    HelloRetryRequest: the probe follows it and gets the chain, in TLS 1.3 and 1.2."""
    leaf = lab_leaf(pki, eku=[SA])
    for tls_max in (None, SSL.TLS1_2_VERSION):
        if groups == b"X25519MLKEM768" and tls_max is not None:
            continue  # the hybrid is a TLS 1.3 group
        server = context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.TLS, tls_max=tls_max)
        if not _restrict_groups(server, groups):
            pytest.skip(f"this OpenSSL has no {groups.decode()}")
        port = await serve(nursery, tls_handler(server, Behaviour.TLS))
        (observation,) = await scan([endpoint("127.0.0.1", port)])
        assert observation.status is Status.OK, observation.error
        assert observation.chain_der[0] == leaf.der
        assert observation.tls_version == ("TLSv1.2" if tls_max else "TLSv1.3")


# --- the default number of workers ----------------------------------------------------------


def test_the_default_worker_count_is_the_readme_rule():
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--workers N` |"))
    said = re.search(r"one process per ([\d,]+) probes", row)
    assert said is not None, row
    assert int(said.group(1).replace(",", "")) == PROBES_PER_PROCESS
    assert f"at most {MAX_WORKERS}" in row and "CPU core" in row
    for probes in (0, 1, PROBES_PER_PROCESS - 1, PROBES_PER_PROCESS, 1000, 4 * PROBES_PER_PROCESS, 10**7):
        for cores in (1, 2, 3, 8, 128):
            expected = max(1, min(probes // PROBES_PER_PROCESS, cores, MAX_WORKERS))
            assert default_workers(probes, cores) == expected
    assert default_workers(1000, 2) == 2  # the benchmark's 1000 endpoints use both cores
    assert default_workers(10, 2) == 1


# --- closed ports of ranges: counted, not judged --------------------------------------------


def _probed(host: str, group: int, statuses: list[tuple[int, Status]], swept: bool, chain: tuple[bytes, ...]):
    items = []
    for port, status in statuses:
        endpoint = Endpoint(host, host, host, port, swept=swept, group=group, group_size=len(statuses))
        ok = status is Status.OK
        observation = Observation(endpoint, status, None if ok else "connection refused", connected=ok)
        if ok:
            observation = replace(observation, chain_der=chain)
        items.append(observation)
    return items


def test_unlisted_probes_are_counted_and_the_listed_judged_as_before():
    """Without --show-all a closed port of a range gives only its status, and the listed
    endpoints of its host are judged exactly as when every probe is judged: the host's context
    still counts the closed ports it sought."""
    root, inter, leaf = make_chain()
    chain = (leaf.der, inter.der)
    closed, ok = Status.CLOSED, Status.OK
    observations = [
        *_probed("10.0.0.1", 1, [(5061, ok), (7001, closed), (8443, closed)], True, chain),
        *_probed("10.0.0.2", 2, [(5061, closed), (7001, closed), (8443, closed)], True, chain),
        *_probed("10.0.0.3", 3, [(7001, ok), (8443, closed)], True, chain),
        *_probed("198.51.100.7", 4, [(5061, closed)], False, chain),  # named: listed, judged
    ]
    analysis = context(RootStore.from_ders([root.der]))
    outcomes = {}
    for judge_unlisted in (True, False):
        judge = HostJudge(analysis, judge_unlisted)
        got = [outcome for item in enumerate(observations) for outcome in judge.add((item[0], (item[1],)))]
        got += judge.flush()
        outcomes[judge_unlisted] = [each for _, each in got]
    inventory = Inventory()
    for (every,), (listed_only,), observation in zip(
        outcomes[True], outcomes[False], observations, strict=True
    ):
        assert isinstance(every, EndpointReport)
        if is_listed(observation, False):
            assert listed_only == every
            assert inventory.listed(every)
        else:
            assert listed_only is observation.status
            assert not inventory.listed(every)
    assert sum(isinstance(each, Status) for (each,) in outcomes[False]) == 6


# --- the connect ----------------------------------------------------------------------------


async def test_the_plain_socket_connect_says_what_trio_said(nursery):
    port = await serve(nursery, lambda stream: stream.aclose())
    connected = await open_tcp("127.0.0.1", port, 5)
    assert not isinstance(connected, NotConnected)
    connected.close()
    with socket.socket() as spare:  # a port nothing listens on: bound, never listening
        spare.bind(("127.0.0.1", 0))
        assert await open_tcp("127.0.0.1", spare.getsockname()[1], 5) == NotConnected(
            Status.CLOSED, "connection refused"
        )
        timed_out = await open_tcp("127.0.0.1", spare.getsockname()[1], 0)
    assert timed_out == NotConnected(Status.TIMEOUT, "connect timed out after 0s")
    unusable = await open_tcp("fe80::1%no-such-interface", 443, 5)
    assert isinstance(unusable, NotConnected) and unusable.status is Status.UNREACHABLE


async def test_the_watched_connects_say_what_the_plain_connect_says(nursery):
    """``ConnectWatcher`` (many connects, one task) gives each connect ``open_tcp``'s outcome."""
    port = await serve(nursery, lambda stream: stream.aclose())
    with socket.socket() as spare:  # a port nothing listens on: bound, never listening
        spare.bind(("127.0.0.1", 0))
        closed = spare.getsockname()[1]
        watcher: ConnectWatcher[str] = ConnectWatcher(5)
        try:
            watcher.start("127.0.0.1", port, "listening")
            watcher.start("127.0.0.1", closed, "closed")
            watcher.start("fe80::1%no-such-interface", 443, "unusable")
            watcher.end()
            ended: dict[str, RawConnected] = {}
            while batch := await watcher.finished():
                ended.update(batch)
        finally:
            watcher.close()
        assert sorted(ended) == ["closed", "listening", "unusable"]
        listening = ended["listening"]
        assert not isinstance(listening, NotConnected)
        listening.close()
        assert ended["closed"] == NotConnected(Status.CLOSED, "connection refused")
        unusable = ended["unusable"]
        assert isinstance(unusable, NotConnected) and unusable.status is Status.UNREACHABLE
    with contextlib.ExitStack() as stack:  # a listener whose accept queue is full drops the SYN
        full = stack.enter_context(socket.socket())
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        for _ in range(2):
            queued = stack.enter_context(socket.socket())
            queued.setblocking(False)
            queued.connect_ex(full.getsockname())
        await trio.sleep(0.05)
        impatient: ConnectWatcher[str] = ConnectWatcher(0.2)
        try:
            impatient.start(*full.getsockname(), "silent")
            assert await impatient.finished() == [
                ("silent", NotConnected(Status.TIMEOUT, "connect timed out after 0.2s"))
            ]
        finally:
            impatient.close()
