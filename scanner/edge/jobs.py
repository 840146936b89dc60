"""What one share of a sweep is given: the job (targets, share, limits) and the inputs of its analysis.

A spawned worker gets its ``WorkerJob`` pickled over its stdin and rebuilds the parent's
``AnalysisContext`` from ``AnalysisInputs`` (certificates do not pickle); a forked one has both
in memory. ``owned_sweep`` says which endpoints a share probes, in which order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from scanner.core.analysis import AnalysisContext
from scanner.core.policy_schema import parse_policy
from scanner.core.targets import Shard, TargetSpec, expand_hosts, in_shard
from scanner.core.trust import ProgramRoots, load_pem_bundle
from scanner.edge.files import intermediate_pool, load_packaged_policy
from scanner.edge.pool import PoolConfig
from scanner.model import Endpoint, EndpointReport, RootProgram
from scanner.report.sink import Renderer

Compactable = TypeVar("Compactable")


@dataclass(frozen=True, slots=True)
class AnalysisInputs:
    """What a worker needs to rebuild the parent's AnalysisContext (certificates do not pickle)."""

    roots_pem: bytes
    now: datetime
    warn: timedelta
    policy_document: Any = None  # the parent's policy (--policy FILE) as JSON data; None: packaged
    roots_program: RootProgram = RootProgram.USER  # the program the bundle stands for
    mozilla_roots: ProgramRoots | None = None  # certifi's roots, where the bundle is another
    intermediates_pem: bytes = b""  # --intermediates as read (each process maps the packaged set itself)
    fetched_issuers: tuple[tuple[str, tuple[bytes, ...]], ...] = ()  # (URL, DER) from the history store
    fetch_issuers: bool = False  # --fetch-issuers: a worker asks the parent, which fetches
    # --show-all judges every probe; without it, a probe the output does not list (a closed port
    # of a range) is only counted (``report.inventory.is_listed``).
    judge_unlisted: bool = True
    keep_evidence: bool = False  # --db: the DER crosses the pipe, for the store to keep (issue 12)
    client_candidate: tuple[bytes, ...] = ()  # --client-cert's certificate and chain (DER)

    def context(self) -> AnalysisContext:
        policy = (
            load_packaged_policy() if self.policy_document is None else parse_policy(self.policy_document)
        )
        return AnalysisContext(
            now=self.now,
            warn=self.warn,
            roots=load_pem_bundle(self.roots_pem, self.roots_program),
            policy=policy,
            mozilla_roots=self.mozilla_roots,
            intermediates=intermediate_pool(self.intermediates_pem, self.fetched_issuers),
            client_candidate=self.client_candidate,
        )


@dataclass(frozen=True, slots=True)
class WorkerJob:
    specs: tuple[TargetSpec, ...]
    shard: Shard | None
    index: int  # 0-based: this worker's share
    count: int
    pool: PoolConfig  # the whole sweep's limits; each worker takes its part
    analysis: AnalysisInputs
    # The output's renderer (``Writer.renderer``): a worker then hands on each host packaged
    # (``report.sink.HostPackage``); None: its reports, for a writer or a recorder that needs them.
    renderer: Renderer | None = None


def owned_sweep(
    specs: Iterable[TargetSpec], shard: Shard | None, index: int, count: int
) -> Iterator[tuple[int, Endpoint]]:
    """The endpoints worker ``index`` of ``count`` probes, each with its number in the whole sweep
    (the expansion of ``specs``, restricted to ``shard``).

    Hosts are dealt out in turn, as cards: each run of endpoints with the same host (a range
    yields all ports of one address together, a name all its ports) goes to the next worker.
    That splits any sweep evenly, which matters because the merge runs at the pace of the
    slowest worker; a hash of the host would leave one worker with a third more hosts than
    the other on a few hundred hosts. A host that comes back later in the list (the same
    address in two targets) may land on another worker, so ``--max-per-host`` is then per
    worker. Every worker walks the whole sweep to number it; the hosts it skips cost their
    ports' arithmetic, not an ``Endpoint`` each.
    """
    seq, turn = 0, -1
    previous: str | None = None
    for host, size, make in expand_hosts(list(specs)):
        if shard is not None and not in_shard(host, shard):
            continue
        if host != previous:
            previous = host
            turn = (turn + 1) % count
        if turn == index:
            yield from enumerate(make(), seq)
        seq += size


def compact(outcome: Compactable) -> Compactable:
    """A report without the raw DER (writers and the inventory use the parsed facts only);
    anything else as it is."""
    return compact_report(outcome) if isinstance(outcome, EndpointReport) else outcome  # type: ignore[return-value]


def compact_report(report: EndpointReport) -> EndpointReport:
    """``compact`` of a judged report."""
    observation = report.observation
    if not observation.chain_der:
        return report
    return replace(report, observation=replace(observation, chain_der=()))
