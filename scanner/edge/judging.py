"""A share of a sweep judged a host at a time (``HostJudge``), and a worker's hosts packaged
for the parent: counted and rendered where they were judged (``Packer``).

With two processes or more, the parent probes a share of the sweep itself and also takes every
worker's results. Sent as reports, each of those is unpickled, counted into the inventory and
rendered by the parent: work for the whole sweep in one process (issue 14). Where the output
renders each endpoint itself (JSON, JSONL, Prometheus; ``Writer.renderer``) and nothing else
needs the reports (no ``--db``), a worker does that part for its own hosts and sends each as a
``report.sink.HostPackage``; ``app.output.ReportStream.record`` adds it as it would have added its
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scanner.core.analysis import AnalysisContext, analyze, analyze_host, host_contexts
from scanner.core.hosts import HostGrouper
from scanner.core.peers import LinkPair
from scanner.edge.frames import Item, Outcome
from scanner.model import EndpointReport, Observation, Status
from scanner.report.inventory import Inventory, is_listed
from scanner.report.ordering import EndpointSortKey, endpoint_sort_key
from scanner.report.sink import HostPackage, Renderer

ProbedItem = tuple[int, tuple[Observation, ...]]  # an endpoint's place in the sweep, its observations


class HostJudge:
    """Judges an ordered stream of probed endpoints a host at a time (``HostGrouper``), whole."""

    def __init__(
        self,
        analysis: AnalysisContext,
        judge_unlisted: bool = True,
        pack: Callable[[list[Item]], list[Item]] | None = None,
    ) -> None:
        self.analysis = analysis
        self.judge_unlisted = judge_unlisted  # False: what the output does not list is only counted
        self.hosts: HostGrouper[ProbedItem] = HostGrouper()
        self.pack = pack  # what a worker does with each judged host (``Packer``); None: nothing

    def add(self, item: ProbedItem) -> list[Item]:
        return [judged for host in self.hosts.add(item[1][0].endpoint, item) for judged in self._judged(host)]

    def flush(self) -> list[Item]:
        return self._judged(self.hosts.flush())

    def _judged(self, items: list[ProbedItem]) -> list[Item]:
        judged = self._judge(items)
        return self.pack(judged) if self.pack is not None and judged else judged

    def _judge(self, items: list[ProbedItem]) -> list[Item]:
        if not items:
            return []
        every = [o for _, observations in items for o in observations]
        outcomes: Iterator[Outcome]
        if self.judge_unlisted:
            outcomes = iter(analyze_host(every, self.analysis))
        else:
            # The host's context comes from all its probes (the ports sought shape its links),
            # but only what the output lists is judged; a host where nothing listened costs
            # no context either.
            listed = [is_listed(o, False) for o in every]
            hosts = host_contexts(every, self.analysis) if any(listed) else {}
            outcomes = iter(
                [
                    analyze(o, self.analysis, hosts[o.endpoint.ip]) if wanted else o.status
                    for o, wanted in zip(every, listed, strict=True)
                ]
            )
        return [(seq, tuple(next(outcomes) for _ in observations)) for seq, observations in items]


@dataclass(frozen=True, slots=True)
class Packer:
    """A worker's judged hosts as ``HostPackage``s, when the output renders each endpoint itself.

    Each host (``HostJudge`` judges one at a time; within it, a run of endpoints of one host
    name) is counted into an inventory of its own and its listed endpoints are rendered, as
    the parent's ``ReportStream.record`` of each report would have done. The package takes
    the place of the host's first endpoint, and its other endpoints have no item: a host's
    endpoints are consecutive in the sweep and all in this worker's share, so no other share
    has a number between them and the merge keeps its order. A host where nothing listened
    (only statuses, a range's closed address) goes on as it is.

    The parent then adds a few bytes per endpoint, not a report to unpickle, count and render:
    with two processes, that work was the parent's for the whole sweep.
    """

    renderer: Renderer
    show_all: bool
    pairs: tuple[LinkPair, ...]

    def __call__(self, host: list[Item]) -> list[Item]:
        if not any(isinstance(o, EndpointReport) for _, outcomes in host for o in outcomes):
            return host
        items: list[Item] = []
        packing: _PackedHost | None = None
        for seq, outcomes in host:
            for outcome in outcomes:
                if isinstance(outcome, HostPackage):
                    raise TypeError("a host is packaged from its reports, not from packages")
                name = None if isinstance(outcome, Status) else outcome.endpoint.host
                if packing is None or (name is not None and packing.name not in (None, name)):
                    if packing is not None:
                        items.append(packing.item())
                    packing = _PackedHost(seq, Inventory(self.show_all, link_pairs=self.pairs))
                packing.add(outcome, name, self.renderer)
        if packing is not None:
            items.append(packing.item())
        return items


class _PackedHost:
    """One host being packaged (``Packer``)."""

    def __init__(self, seq: int, inventory: Inventory) -> None:
        self.seq, self.inventory = seq, inventory
        self.name: str | None = None  # None: only unlisted statuses so far
        self.rendered: list[tuple[EndpointSortKey, bytes]] = []
        self.probes = self.live = 0

    def add(self, outcome: EndpointReport | Status, name: str | None, renderer: Renderer) -> None:
        self.probes += 1
        if isinstance(outcome, Status):
            self.inventory.count_unlisted(outcome)
            return
        self.name = name
        observation = outcome.observation
        self.live += observation.connected or observation.status is Status.OK
        if self.inventory.add(outcome):
            self.rendered.append((endpoint_sort_key(outcome), renderer(outcome)))

    def item(self) -> Item:
        packed = HostPackage(self.inventory.share(), tuple(self.rendered), self.probes, self.live)
        return (self.seq, (packed,))
