"""``--workers N``: a sweep split over N processes, merged back into one ordered stream.

Theory of operation
-------------------
Probing and analysis cost CPU (OpenSSL in the handshake, certificate parsing, the rules);
one process uses one core. The parent therefore runs N - 1 worker processes besides its own
share. Where it can (one thread, before trio runs: ``forked.py``) it forks them after its
imports and its inputs are loaded, and each child starts with its ``WorkerJob`` and the
parent's ``AnalysisContext`` in memory. Elsewhere it starts fresh interpreters (``python -m
scanner.edge.workers``) and sends each, on its stdin, one ``WorkerJob``: the target specs,
which share is its own, the pool limits and the inputs of the analysis.

Every worker expands the same specs in the same order, numbers the endpoints 0, 1, 2, ...
and keeps those whose host falls in its share (``owned_sweep``: hosts are dealt out in turn, so a
host's ports go to one worker and ``--max-per-host`` holds). It probes and analyses
them with the ordinary pool, in order, and writes ``(number, reports)`` frames on its
stdout. Where the output renders each endpoint itself (JSON, JSONL, Prometheus, without
``--db``), a worker sends each host as a ``HostPackage`` instead (``Packer``): its share of
the inventory and its endpoints' rendered bytes, so that the parent, which also probes a
share of its own, does not unpickle, count and render the whole sweep. Each worker's stream
is ordered, so the parent merges the N streams like sorted files: it waits until each
running worker has its next item buffered and passes on the smallest number. Nothing is
sorted and nothing grows with the sweep: each worker holds its pool window, each pipe a
few frames.

The parent talks to workers over pipes only: closing a worker's stdin tells it to stop (a
parent that dies, however it dies, closes it too, so no worker outlives it), and a worker
that exits without its final frame fails the run. Workers ignore SIGINT and SIGTERM: Ctrl-C
in a terminal reaches the whole process group, and the parent, which owns the output,
decides when they stop.

Frames and the merge are in ``frames.py``. With ``--fetch-issuers`` a worker does not fetch: it
sends a ``fetch`` frame, and the parent, which fetches each URL once per run, answers with an
``issuers`` frame on the worker's stdin (``issuers.py``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import trio

from scanner.core.analysis import AnalysisContext
from scanner.core.peers import link_pairs
from scanner.core.targets import Shard, TargetSpec
from scanner.edge.forked import ForkedProcess, can_fork, fork_children
from scanner.edge.frames import (
    FRAME_HEADER,
    FrameReader,
    Item,
    Outcome,
    WorkerFailed,
    encode_frame,
    merge,
)
from scanner.edge.heap import freeze_startup_heap
from scanner.edge.issuers import ChainCompleter, IssuerFetcher, RemoteIssuers, answer_request
from scanner.edge.jobs import AnalysisInputs, WorkerJob, compact, owned_sweep
from scanner.edge.judging import HostJudge, Packer, ProbedItem
from scanner.edge.pool import PoolConfig, scan_ordered
from scanner.report.sink import Renderer

BATCH_ITEMS = 64  # endpoints per frame at most; a frame goes as soon as nothing more is ready
BUFFERED_FRAMES = 4  # per worker, in the parent
STOP_GRACE_SECONDS = 1.0  # after its stdin closes, a worker has this long before it is killed


# --- the parent -----------------------------------------------------------------------------


class WorkerProcess(Protocol):
    """A worker as the parent drives it: a spawned ``trio.Process`` or a ``ForkedProcess``."""

    @property
    def stdin(self) -> trio.abc.SendStream | None: ...
    @property
    def stdout(self) -> trio.abc.ReceiveStream | None: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...
    def kill(self) -> None: ...


@contextlib.contextmanager
def preforked(
    specs: Iterable[TargetSpec],
    shard: Shard | None,
    pool: PoolConfig,
    inputs: AnalysisInputs,
    count: int,
    analysis: AnalysisContext,
    renderer: Renderer | None = None,
) -> Iterator[list[ForkedProcess]]:
    """Before trio runs: fork the ``count - 1`` workers of a sweep, if this process may fork.

    Each child probes and judges its share with the parent's ``analysis`` (nothing to reload)
    and the job it was forked with; none is forked (an empty list: the sweep spawns them) for
    one process, or where forking is unsafe. Whatever the sweep left running is killed and
    reaped when the block ends.
    """
    if count <= 1 or not can_fork():
        yield []
        return
    spec_tuple = tuple(specs)

    def body(index: int, read_fd: int, write_fd: int) -> None:
        job = WorkerJob(spec_tuple, shard, index, count, pool, inputs, renderer)
        run_worker(job, analysis, read_fd, write_fd)

    children = fork_children(count, body, "ekuscan-w")
    try:
        yield children
    finally:
        for child in children:
            child.close()


def _worker_command() -> tuple[list[str], dict[str, str]]:
    # The package may run from a source tree that is not installed: give the child its path.
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", "scanner.edge.workers"], env


async def _read_worker(
    number: int,
    process: WorkerProcess,
    send: trio.MemorySendChannel[list[Item]],
    issuers: IssuerFetcher | None = None,
) -> None:
    assert process.stdout is not None
    reader = FrameReader(process.stdout)
    writing = trio.Lock()  # answers to the worker's issuer requests go down its stdin one at a time
    async with send, trio.open_nursery() as answers:
        while True:
            frame = await reader.next()
            if frame is None:
                code = await process.wait()
                raise WorkerFailed(f"worker {number} exited (code {code}) before finishing its share")
            kind, value = frame
            if kind == "items":
                await send.send(value)
            elif kind == "fetch" and issuers is not None:
                assert process.stdin is not None
                answers.start_soon(answer_request, process.stdin, writing, issuers, value)
            elif kind == "done":
                return
            else:
                raise WorkerFailed(f"worker {number} failed: {value}")


async def _stop(process: WorkerProcess) -> None:
    """Close the worker's stdin, give it a moment, then kill it; always reaps it."""
    with trio.CancelScope(shield=True):
        if process.stdin is not None:
            try:
                await process.stdin.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        with trio.move_on_after(STOP_GRACE_SECONDS):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def merge_workers(
    specs: Iterable[TargetSpec],
    shard: Shard | None,
    pool: PoolConfig,
    inputs: AnalysisInputs,
    count: int,
    record: Callable[[Outcome], None],
    analysis: AnalysisContext,
    issuers: IssuerFetcher | None = None,
    forked: Sequence[ForkedProcess] = (),
    renderer: Renderer | None = None,
) -> None:
    """Run the sweep in ``count`` shares; hand every report to ``record``, in target order
    (a worker's hosts as ``HostPackage``s with a ``renderer``).

    This process probes share 0 itself; the ``count - 1`` others are the ``forked`` workers
    (``preforked``), or else workers it spawns now.
    """
    command, env = _worker_command()
    spec_tuple = tuple(specs)
    processes: list[WorkerProcess] = list(forked)
    try:
        for index in range(len(processes) + 1, count):
            spawned = await trio.lowlevel.open_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True
            )
            processes.append(spawned)
            job = WorkerJob(spec_tuple, shard, index, count, pool, inputs, renderer)
            assert spawned.stdin is not None
            payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                await spawned.stdin.send_all(FRAME_HEADER.pack(len(payload)) + payload)
            except (trio.BrokenResourceError, OSError):
                raise WorkerFailed(f"worker {index} did not start") from None
        async with trio.open_nursery() as nursery:
            send, receive = trio.open_memory_channel[list[Item]](BUFFERED_FRAMES)
            receivers: list[trio.MemoryReceiveChannel[list[Item]]] = [receive]
            nursery.start_soon(
                _local_share, WorkerJob(spec_tuple, shard, 0, count, pool, inputs), analysis, send, issuers
            )
            for number, process in enumerate(processes, start=1):
                send, receive = trio.open_memory_channel[list[Item]](BUFFERED_FRAMES)
                receivers.append(receive)
                nursery.start_soon(_read_worker, number, process, send, issuers)
            await merge(receivers, record)
    finally:
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as stopper:
                for process in processes:
                    stopper.start_soon(_stop, process)


async def _local_share(
    job: WorkerJob,
    analysis: AnalysisContext,
    send: trio.MemorySendChannel[list[Item]],
    issuers: IssuerFetcher | None,
) -> None:
    async def deliver(batch: list[Item]) -> None:
        await send.send(batch)

    async with send:
        await _probe_and_judge(
            job,
            HostJudge(analysis, job.analysis.judge_unlisted),
            deliver,
            ChainCompleter(issuers) if issuers else None,
        )


async def judge_sweep(
    specs: Iterable[TargetSpec],
    shard: Shard | None,
    pool: PoolConfig,
    inputs: AnalysisInputs,
    processes: int,
    record: Callable[[Outcome], None],
    analysis: AnalysisContext,
    issuers: IssuerFetcher | None = None,
    forked: Sequence[ForkedProcess] = (),
    renderer: Renderer | None = None,
) -> None:
    """Probe and judge a sweep in ``processes`` shares, handing every report to ``record`` in target order.

    One process or several, the work is wired the same way: this process probes and judges
    share 0 (``_probe_and_judge``), each further share is a worker doing the same, and the
    streams are merged. A single process that is stopped still judges the host it was
    collecting, with what came (a worker's partial host is lost with the worker). With
    ``issuers`` (--fetch-issuers) the issuers a chain misses are fetched before it is judged, by
    this process for every share. ``forked``: the workers ``preforked`` started for this sweep.
    ``renderer``: the output's (``Writer.renderer``), with which the workers render their hosts.
    """
    if processes > 1:
        await merge_workers(
            specs, shard, pool, inputs, processes, record, analysis, issuers, forked, renderer
        )
        return
    judge = HostJudge(analysis, inputs.judge_unlisted)

    async def deliver(batch: list[Item]) -> None:
        _record_all(batch, record)

    try:
        job = WorkerJob(tuple(specs), shard, 0, 1, pool, inputs)
        await _probe_and_judge(job, judge, deliver, ChainCompleter(issuers) if issuers else None)
    finally:
        _record_all(judge.flush(), record)  # synchronous: safe while being cancelled


def _record_all(batch: list[Item], record: Callable[[Outcome], None]) -> None:
    for _, reports in batch:
        for report in reports:
            record(report)


async def _probe_and_judge(
    job: WorkerJob,
    judge: HostJudge,
    deliver: Callable[[list[Item]], Awaitable[None]],
    completer: ChainCompleter | None = None,
) -> None:
    """A share of the sweep: probe in order, judge host by host, hand on in batches of what is ready.

    With a ``completer`` (--fetch-issuers), what an endpoint's chain misses is fetched before
    its host is judged; the judge's intermediates grow with every fetch.
    """

    async def judged(item: ProbedItem) -> list[Item]:
        if completer is not None:
            judge.analysis = await completer.prepare(item[1], judge.analysis)
        return judge.add(item)

    send, receive = trio.open_memory_channel[ProbedItem](BATCH_ITEMS)
    async with trio.open_nursery() as nursery:
        items = owned_sweep(job.specs, job.shard, job.index, job.count)
        nursery.start_soon(scan_ordered, items, job.pool.share(job.count), send)
        async with receive:
            async for item in receive:
                batch = await judged(item)
                while len(batch) < BATCH_ITEMS:
                    try:
                        item = receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch += await judged(item)
                if batch:
                    await deliver(batch)
            rest = judge.flush()
            if rest:
                await deliver(rest)


# --- the worker -----------------------------------------------------------------------------


def _read_job() -> WorkerJob:
    stdin = sys.stdin.buffer
    header = stdin.read(FRAME_HEADER.size)
    if len(header) != FRAME_HEADER.size:
        raise SystemExit(0)  # the parent went away before sending the job
    (length,) = FRAME_HEADER.unpack(header)
    job = pickle.loads(stdin.read(length))
    assert isinstance(job, WorkerJob)
    return job


async def _work(job: WorkerJob, analysis: AnalysisContext | None, in_fd: int, out_fd: int) -> None:
    if analysis is None:  # a spawned worker: its start-up is done once its context is loaded
        analysis = job.analysis.context()
        freeze_startup_heap()
    out = trio.lowlevel.FdStream(os.dup(out_fd))
    stdin = trio.lowlevel.FdStream(os.dup(in_fd))

    writing = trio.Lock()

    async def send_frame(kind: str, value: Any) -> None:
        async with writing:
            await out.send_all(encode_frame(kind, value))

    remote = RemoteIssuers(lambda url: send_frame("fetch", url)) if job.analysis.fetch_issuers else None

    async def watch_parent(scope: trio.CancelScope) -> None:
        # Answers to our issuer requests come on stdin. EOF: the parent wants us to stop, or is
        # gone. Either way, stop now.
        reader = FrameReader(stdin)
        try:
            while (frame := await reader.next()) is not None:
                if frame[0] == "issuers" and remote is not None:
                    remote.answer(*frame[1])
        except WorkerFailed:
            pass  # a cut frame: the parent died while writing
        scope.cancel()

    async def deliver(batch: list[Item]) -> None:
        # Across the pipe the raw DER is dropped: writers and the inventory use the parsed facts.
        # A recorded run keeps it: the store keeps each certificate's DER to judge it again later.
        keep = job.analysis.keep_evidence
        await send_frame(
            "items",
            [(seq, tuple(r if keep else compact(r) for r in reports)) for seq, reports in batch],
        )

    async with out, stdin, trio.open_nursery() as nursery:
        nursery.start_soon(watch_parent, nursery.cancel_scope)
        pack = None
        if job.renderer is not None:
            pack = Packer(job.renderer, job.analysis.judge_unlisted, link_pairs(analysis.policy))
        judge = HostJudge(analysis, job.analysis.judge_unlisted, pack)
        await _probe_and_judge(job, judge, deliver, ChainCompleter(remote) if remote else None)
        await send_frame("done", None)
        nursery.cancel_scope.cancel()


def run_worker(job: WorkerJob, analysis: AnalysisContext | None, in_fd: int, out_fd: int) -> None:
    """A worker's whole life: its share, frames out on ``out_fd``; a failure as an error frame."""
    try:
        trio.run(_work, job, analysis, in_fd, out_fd)
    except BaseException as exc:
        with open(out_fd, "wb", closefd=False) as raw:
            try:
                raw.write(encode_frame("error", f"{type(exc).__name__}: {exc}"))
            except OSError:
                pass
        raise


def worker_main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    job = _read_job()
    run_worker(job, None, sys.stdin.fileno(), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    # Run the imported module's copy, so that unpickled jobs are scanner.edge.workers classes,
    # not __main__ ones.
    from scanner.edge import workers

    sys.exit(workers.worker_main())
