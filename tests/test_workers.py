"""The worker plumbing without processes: frames, the deal of hosts, the ordered merge."""

from __future__ import annotations

import pickle

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.targets import Shard, expand, parse_target
from scanner.edge.frames import FRAME_HEADER, MAX_FRAME_BYTES, FrameReader, WorkerFailed, encode_frame
from scanner.edge.frames import merge as _merge
from scanner.edge.jobs import owned_sweep
from scanner.edge.sizing import default_workers
from tests.test_targets import select_shard


async def _reader_over(data: bytes) -> FrameReader:
    send, receive = trio.testing.memory_stream_one_way_pair()
    await send.send_all(data)
    await send.aclose()
    return FrameReader(receive)


async def test_frames_round_trip_and_end_cleanly():
    reader = await _reader_over(encode_frame("items", [(1, ())]) + encode_frame("done", None))
    assert await reader.next() == ("items", [(1, ())])
    assert await reader.next() == ("done", None)
    assert await reader.next() is None


@pytest.mark.parametrize(
    "data",
    [
        encode_frame("items", [])[:-1],  # cut inside the payload
        b"\x00\x00",  # cut inside the header
        FRAME_HEADER.pack(MAX_FRAME_BYTES + 1),  # a frame no worker sends
    ],
    ids=["cut-payload", "cut-header", "oversized"],
)
async def test_broken_frames_fail_the_run(data):
    reader = await _reader_over(data)
    with pytest.raises(WorkerFailed):
        await reader.next()


def sweep(specs, shard):
    """The reference: the whole sweep's endpoints, in order, restricted to a shard."""
    endpoints = expand(list(specs))
    return endpoints if shard is None else select_shard(endpoints, shard)


def owned(endpoints, index, count):
    """The reference: number every endpoint, keep those of worker ``index`` (hosts dealt in turn)."""
    turn, previous = -1, None
    for seq, endpoint in enumerate(endpoints):
        if endpoint.host != previous:
            previous, turn = endpoint.host, (turn + 1) % count
        if turn == index:
            yield seq, endpoint


def test_hosts_are_dealt_in_turn_with_all_their_ports():
    specs = [parse_target("10.0.0.0/29", ports=(5061, 443))]
    shares = [list(owned_sweep(specs, None, k, 3)) for k in range(3)]
    assert sorted(seq for share in shares for seq, _ in share) == list(range(16))
    hosts = [{e.host for _, e in share} for share in shares]
    assert [len(h) for h in hosts] == [3, 3, 2]
    assert not (hosts[0] & hosts[1] or hosts[1] & hosts[2] or hosts[0] & hosts[2])
    assert [seq for seq, _ in shares[0]] == [0, 1, 6, 7, 12, 13]


TARGETS = (
    "10.0.0.0/29",
    "10.0.0.7:443",
    "10.0.0.6-10.0.0.9",
    "a.example",
    "10.0.0.9",
    "A.example:7001",
    "::1",
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(TARGETS), max_size=6),
    st.lists(st.sampled_from((5061, 443, 7001)), min_size=1, max_size=3, unique=True),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 3).map(lambda k: Shard(k, 3))),
)
def test_a_share_made_alone_is_the_share_of_the_whole_sweep(targets, ports, count, shard):
    """A worker makes only its own hosts' endpoints, and numbers and deals them as from the whole."""
    specs = [parse_target(text, ports=tuple(ports)) for text in targets]
    for index in range(count):
        alone = [(seq, e, e.group, e.group_size) for seq, e in owned_sweep(specs, shard, index, count)]
        whole = [(seq, e, e.group, e.group_size) for seq, e in owned(sweep(specs, shard), index, count)]
        assert alone == whole


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=60), st.integers(1, 4))
def test_the_merge_gives_back_the_global_order(owners, count):
    owners = [o % count for o in owners]

    async def main() -> list[int]:
        got: list[int] = []
        channels = [trio.open_memory_channel(100) for _ in range(count)]
        for index, (send, _) in enumerate(channels):
            mine = [(seq, (seq,)) for seq, owner in enumerate(owners) if owner == index]
            for start in range(0, len(mine), 3):  # in batches, as workers send them
                send.send_nowait(mine[start : start + 3])
            send.close()
        await _merge([receive for _, receive in channels], got.append)
        return got

    assert trio.run(main) == list(range(len(owners)))


def test_default_workers():
    assert default_workers(10) == 1
    assert 1 <= default_workers(10**6) <= 64


def test_jobs_pickle():
    from datetime import UTC, datetime, timedelta

    from scanner.edge.jobs import AnalysisInputs, WorkerJob
    from scanner.edge.pool import PoolConfig

    job = WorkerJob(
        (parse_target("10.0.0.0/30"),),
        None,
        1,
        2,
        PoolConfig(rate=10),
        AnalysisInputs(b"", datetime.now(UTC), timedelta(1)),
    )
    assert pickle.loads(pickle.dumps(job)) == job


def test_a_worker_rebuilds_the_root_programs_of_the_parent():
    """certifi's bundle stays Mozilla's in a worker, and a user bundle keeps certifi's roots beside it."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import certifi

    from scanner.app.inputs import read_roots
    from scanner.edge.jobs import AnalysisInputs
    from scanner.model import RootProgram

    certifi_pem = Path(certifi.where()).read_bytes()
    default = read_roots(None)
    inputs = AnalysisInputs(
        default.pem, datetime.now(UTC), timedelta(1), None, default.program, default.mozilla
    )
    ctx = pickle.loads(pickle.dumps(inputs)).context()
    assert ctx.roots.program is RootProgram.MOZILLA and ctx.mozilla_roots is None
    assert default.pem == certifi_pem
    user = read_roots(Path(certifi.where()))  # the same roots, given as --public-roots
    inputs = AnalysisInputs(user.pem, datetime.now(UTC), timedelta(1), None, user.program, user.mozilla)
    ctx = pickle.loads(pickle.dumps(inputs)).context()
    assert ctx.roots.program is RootProgram.USER
    assert ctx.mozilla_roots is not None and ctx.mozilla_roots.fingerprints == ctx.roots.fingerprints


def test_a_worker_rebuilds_the_parents_intermediates():
    """The user's bundle and the issuers known from the history store reach each worker as bytes;
    the packaged set each process maps itself."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import certifi

    from scanner.edge.jobs import AnalysisInputs
    from tests.factories import make_cert

    user, fetched = make_cert("User CA", ca=True), make_cert("Fetched CA", ca=True)
    inputs = AnalysisInputs(
        Path(certifi.where()).read_bytes(),
        datetime.now(UTC),
        timedelta(1),
        intermediates_pem=user.pem,
        fetched_issuers=(("http://127.0.0.1:9/ca.crt", (fetched.der,)),),
        fetch_issuers=True,
    )
    pool = pickle.loads(pickle.dumps(inputs)).context().intermediates
    assert [der for der, _ in pool.user.entries] == [user.der]
    assert pool.fetched.entries == ((fetched.der, "http://127.0.0.1:9/ca.crt"),)
    assert pool.fetched_urls == {"http://127.0.0.1:9/ca.crt"}
    assert pool.packaged is not None and len(pool.packaged) == 1637


def test_a_worker_packages_each_host_in_the_place_of_its_first_endpoint():
    """``Packer``: a host's endpoints (closed ports among them) become one package at its first
    number, counted and rendered as the parent would have; a host where nothing listened
    goes on as it is; two host names in one group make two packages."""
    from scanner.core.analysis import analyze
    from scanner.core.peers import link_pairs
    from scanner.edge.files import load_packaged_policy
    from scanner.edge.judging import Packer
    from scanner.model import Status
    from scanner.report.sink import HostPackage
    from scanner.writers.json import json_endpoint
    from tests.conftest import context
    from tests.factories import make_chain, observation

    root, inter, leaf = make_chain("both")
    a5061, a7001, b5061 = (
        analyze(observation(leaf, inter, root, host=host, port=port), context())
        for host, port in (("192.0.2.1", 5061), ("192.0.2.1", 7001), ("192.0.2.2", 5061))
    )
    pack = Packer(json_endpoint, False, link_pairs(load_packaged_policy()))
    closed = Status.CLOSED
    assert pack([(3, (closed,)), (4, (closed,))]) == [(3, (closed,)), (4, (closed,))]
    [(seq, (package,))] = pack([(3, (closed,)), (4, (a5061,)), (5, (closed,)), (6, (a7001,))])
    assert seq == 3 and isinstance(package, HostPackage)
    assert (package.probes, package.live, package.share.probes, package.share.listed) == (4, 2, 4, 2)
    assert dict(package.share.statuses) == {"closed": 2, "ok": 2}
    assert [line for _, line in package.rendered] == [json_endpoint(a5061), json_endpoint(a7001)]
    assert package.share.part is not None and package.share.part.ports == (5061, 7001)
    two = pack([(7, (a5061,)), (8, (b5061,))])
    assert [seq for seq, _ in two] == [7, 8]
    assert [p.share.part.host for _, (p,) in two] == ["192.0.2.1", "192.0.2.2"]
