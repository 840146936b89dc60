"""Prometheus metrics in the node_exporter textfile format, through prometheus_client.

The metrics are built in a private ``CollectorRegistry`` and rendered by ``generate_latest``
a family at a time, the endpoints' families a few thousand samples at a time, so the text is
never held whole (a 20,000-endpoint estate is some 200 MB of it). To a file they go as
``write_to_textfile`` writes one (temporary file beside it, then rename: node_exporter never
reads half a file), else to stdout. Every series of one endpoint carries
``host``, ``ip``, ``port`` and ``role``; link series add ``link`` and ``uses``.

Alerting examples: ``ekuscan_link_breaks == 1``, ``ekuscan_breaks_on_seconds - time() < 30 * 86400``,
``ekuscan_cert_not_after_seconds - time() < 14 * 86400``.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import ALLOWUTF8, UNDERSCORES
from prometheus_client.samples import Sample

from scanner.model import EndpointReport, Verdict
from scanner.report.inventory import EndpointSortKey, Inventory, endpoint_sort_key
from scanner.report.sink import Renderer, RunInfo, Writer
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory

ENDPOINT_LABELS = ("host", "ip", "port", "role")
LINK_LABELS = (*ENDPOINT_LABELS, "link", "uses")
VERDICTS = tuple(v.value for v in Verdict)


class Record(NamedTuple):
    """One endpoint as spooled (a JSON list of these fields): what its series need."""

    labels: list[str]  # ENDPOINT_LABELS
    not_after: float | None  # Unix times
    breaks_on: float | None
    verdict: str
    links: list[tuple[str, str, str, float | None]]  # name, uses, verdict, breaks_on
    seen_at: float | None = None  # a report from the store: when the observation was made


SampleSource = Callable[[Record], Iterator[tuple[tuple[str, ...], float]]]


def _not_after(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    if record.not_after is not None:
        yield tuple(record.labels), record.not_after


def _breaks_on(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    if record.breaks_on is not None:
        yield tuple(record.labels), record.breaks_on


def _endpoint_verdict(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    for verdict in VERDICTS:
        yield (*record.labels, verdict), 1.0 if record.verdict == verdict else 0.0


def _link_breaks(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    for name, uses, verdict, _ in record.links:
        yield (*record.labels, name, uses), 1.0 if verdict == Verdict.BREAKS.value else 0.0


def _link_verdict(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    for name, uses, verdict, _ in record.links:
        for each in VERDICTS:
            yield (*record.labels, name, uses, each), 1.0 if verdict == each else 0.0


def _link_breaks_on(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    for name, uses, _, breaks_on in record.links:
        if breaks_on is not None:
            yield (*record.labels, name, uses), breaks_on


def _seen_at(record: Record) -> Iterator[tuple[tuple[str, ...], float]]:
    if record.seen_at is not None:
        yield tuple(record.labels), record.seen_at


# name, help, label names, samples of one endpoint
ENDPOINT_FAMILIES: tuple[tuple[str, str, tuple[str, ...], SampleSource], ...] = (
    (
        "ekuscan_cert_not_after_seconds",
        "Expiry (not_after) of the leaf certificate an endpoint presents, as a Unix time.",
        ENDPOINT_LABELS,
        _not_after,
    ),
    (
        "ekuscan_breaks_on_seconds",
        "When the endpoint's first link breaks (or broke), as a Unix time; absent when no date is known.",
        ENDPOINT_LABELS,
        _breaks_on,
    ),
    (
        "ekuscan_endpoint_verdict",
        "1 for the endpoint's verdict (breaks, at-risk, ok, unknown), 0 for the others.",
        (*ENDPOINT_LABELS, "verdict"),
        _endpoint_verdict,
    ),
    ("ekuscan_link_breaks", "1 when the link breaks now, else 0.", LINK_LABELS, _link_breaks),
    (
        "ekuscan_link_verdict",
        "1 for the link's verdict, 0 for the others.",
        (*LINK_LABELS, "verdict"),
        _link_verdict,
    ),
    (
        "ekuscan_link_breaks_on_seconds",
        "When the link breaks (or broke), as a Unix time; absent when no date is known.",
        LINK_LABELS,
        _link_breaks_on,
    ),
    (
        "ekuscan_endpoint_seen_timestamp_seconds",
        "ekuscan report: when the observation judged was made (its run's start), as a Unix time.",
        ENDPOINT_LABELS,
        _seen_at,
    ),
)


class _SpooledSamples:
    """The samples of one family, made from the spool each time they are iterated.

    prometheus_client's own gauges keep an object with two locks per series (about 0.9 KiB);
    an endpoint has some 75 series (a one-hot verdict for each of a dozen links). Ten thousand
    endpoints took 950 MiB that way. ``generate_latest`` only iterates a family's ``samples``,
    so they can be produced as it writes them.
    """

    def __init__(
        self,
        name: str,
        labels: tuple[str, ...],
        records: Callable[[], Iterator[Record]],
        source: SampleSource,
    ):
        self.name, self.labels, self.records, self.source = name, labels, records, source

    def __iter__(self) -> Iterator[Sample]:
        for record in self.records():
            for values, value in self.source(record):
                yield Sample(self.name, dict(zip(self.labels, values, strict=True)), value, None)


class _EndpointCollector:
    """A prometheus_client collector over the spooled endpoints, one family at a time."""

    def __init__(self, records: Callable[[], Iterator[Record]]) -> None:
        self.records = records

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(name, documentation) for name, documentation, _, _ in ENDPOINT_FAMILIES]

    def collect(self) -> Iterator[Metric]:
        for name, documentation, labels, source in ENDPOINT_FAMILIES:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            family.samples = _SpooledSamples(name, labels, self.records, source)  # type: ignore[assignment]
            yield family


# Samples per generate_latest call of an endpoint family: some 150 bytes of text each.
SAMPLES_PER_CHUNK = 2000


class _Families:
    """A collector of metrics already made: what ``generate_latest`` renders one at a time."""

    def __init__(self, *metrics: Metric) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def exposition(registry: CollectorRegistry, escaping: str) -> Iterator[bytes]:
    """``generate_latest(registry, escaping)``, in pieces whose concatenation is the same bytes.

    A family whose samples come from the spool is rendered in chunks of samples: each chunk as
    a family of its own, minus the HELP and TYPE lines that all of them share.
    """
    for metric in registry.collect():
        if not isinstance(metric.samples, _SpooledSamples):
            yield generate_latest(_Families(metric), escaping)
            continue
        samples = iter(metric.samples)
        chunk = copy.copy(metric)
        chunk.samples = []
        header = generate_latest(_Families(chunk), escaping)
        yield header
        while batch := list(itertools.islice(samples, SAMPLES_PER_CHUNK)):
            chunk.samples = batch
            text = generate_latest(_Families(chunk), escaping)
            if not text.startswith(header):  # a gauge's samples never add families; never so
                raise ValueError(f"{metric.name}: unexpected exposition of a chunk")
            yield text[len(header) :]


def write_textfile(path: Path, pieces: Iterable[bytes]) -> None:
    """What prometheus_client's ``write_to_textfile`` does, for text given in pieces.

    The same temporary name beside ``path`` (same filesystem, so the rename is atomic), created
    as ``open`` creates files (mode from the umask), renamed over ``path``, removed on failure.
    """
    temporary = f"{path}.{os.getpid()}.{threading.current_thread().ident}"
    try:
        with open(temporary, "wb") as textfile:
            for piece in pieces:
                textfile.write(piece)
        os.replace(temporary, path)  # rename(2) on POSIX; replaces the old file on Windows too
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def metric_record(report: EndpointReport) -> bytes:
    """The endpoint's metrics, as the spooled record (``PrometheusWriter.renderer``)."""
    ep = report.endpoint
    leaf = report.leaf
    record = Record(
        [ep.host, ep.ip or "", str(ep.port), report.role.value],
        leaf.not_after.timestamp() if leaf is not None else None,
        report.breaks_on.timestamp() if report.breaks_on is not None else None,
        report.verdict.value,
        [
            (
                link.name,
                link.uses.value,
                link.verdict.value,
                link.breaks_on.timestamp() if link.breaks_on else None,
            )
            for link in report.links
        ],
        report.sighting.seen_at.timestamp() if report.sighting is not None else None,
    )
    return json.dumps(record, separators=(",", ":")).encode()


class PrometheusWriter(Writer):
    """Endpoints are spooled to disk as they arrive; the families are made from the spool at the end.

    Series come out ordered by host, address and port. An endpoint listed twice (the same
    host, address, port and role) gives one series, from its last report, as a gauge set
    twice would.
    """

    def __init__(
        self, out: TextIO, run: RunInfo, *, path: Path | None = None, spool: SpoolFactory = MemorySpool
    ) -> None:
        super().__init__(out, run, spool=spool)
        self.path = path
        self._spool: Spool[EndpointSortKey, bytes] = self.new_spool()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_EndpointCollector(self._records))

    def add(self, report: EndpointReport) -> None:
        self._spool.add(endpoint_sort_key(report), metric_record(report))

    def renderer(self) -> Renderer:
        return metric_record

    def add_rendered(self, key: EndpointSortKey, rendered: bytes) -> None:
        self._spool.add(key, rendered)

    def _records(self) -> Iterator[Record]:
        """The spooled endpoints in order; of one endpoint listed twice, the last report."""
        previous: Record | None = None
        for _, data in self._spool.ordered():
            record = Record(*json.loads(data))
            if previous is not None and previous.labels != record.labels:
                yield previous
            previous = record
        if previous is not None:
            yield previous

    def _scanner_gauges(self) -> None:
        """A report from the store: each scanner's latest run and latest complete run."""
        last_run = Gauge(
            "ekuscan_scanner_last_run_timestamp_seconds",
            "ekuscan report: each scanner's latest run (its start, any status), as a Unix time.",
            ["scanner", "status"],
            registry=self.registry,
        )
        complete = Gauge(
            "ekuscan_scanner_last_complete_run_timestamp_seconds",
            "ekuscan report: each scanner's latest complete run (its start), as a Unix time.",
            ["scanner"],
            registry=self.registry,
        )
        for scanner in self.run.scanners:
            last_run.labels(scanner.scanner, scanner.last_status).set(scanner.last_run_at.timestamp())
            if scanner.complete_at is not None:
                complete.labels(scanner.scanner).set(scanner.complete_at.timestamp())

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        summary = inventory.summary()
        registry = self.registry
        Gauge("ekuscan_scan_duration_seconds", "Wall time of the scan.", registry=registry).set(duration_s)
        Gauge(
            "ekuscan_scan_timestamp_seconds", "When the scan started, as a Unix time.", registry=registry
        ).set(self.run.started_at.timestamp())
        Gauge(
            "ekuscan_evaluated_timestamp_seconds",
            "The date the verdicts were judged for (--at, else the scan's start), as a Unix time.",
            registry=registry,
        ).set(self.run.evaluated_at.timestamp())
        Gauge("ekuscan_probes", "Endpoints probed, listed or not.", registry=registry).set(summary.probes)
        for name, documentation, label, counts in (
            ("ekuscan_probes_by_status", "Probes by outcome.", "status", summary.by_status),
            ("ekuscan_endpoints", "Listed endpoints by verdict.", "verdict", summary.by_verdict),
            ("ekuscan_hosts", "Hosts by their worst verdict.", "verdict", summary.hosts_by_verdict),
            ("ekuscan_links", "Link verdicts by verdict.", "verdict", summary.links_by_verdict),
        ):
            gauge = Gauge(name, documentation, [label], registry=registry)
            for value, count in counts.items():
                gauge.labels(value).set(count)
        if summary.earliest_breaks_on is not None:
            Gauge(
                "ekuscan_earliest_breaks_on_seconds",
                "The earliest breaks_on of the whole scan, as a Unix time.",
                registry=registry,
            ).set(summary.earliest_breaks_on.timestamp())
        info = Gauge(
            "ekuscan_host_info",
            "One per host: its role (and where the role came from), product and release.",
            ["host", "role", "role_source", "product", "version"],
            registry=registry,
        )
        for host in inventory.each_host():
            software = host.software
            info.labels(
                host.host,
                host.role.value,
                host.role_source.value,
                software.product.value if software else "",
                str(software.version) if software and software.version else "",
            ).set(1)
        if summary.timeline is not None:
            broken = Gauge(
                "ekuscan_links_broken_by",
                "Host links broken by a day (now, in 30 and 90 days, by the last public clientAuth day).",
                ["horizon"],
                registry=registry,
            )
            (_, now_count), *later = summary.timeline.broken
            broken.labels("now").set(now_count)
            for day, count in later:
                broken.labels(f"{(day - summary.timeline.broken[0][0]).days}d").set(count)
            if summary.timeline.by_last_public_clientauth_day is not None:
                broken.labels("last_public_clientauth_day").set(
                    summary.timeline.by_last_public_clientauth_day
                )
        if self.run.scanners:
            self._scanner_gauges()
        # The escaping each of write_to_textfile and generate_latest defaults to, as before
        # (they differ only for names outside [a-zA-Z_:][a-zA-Z0-9_:]*, which none of ours is).
        if self.path is not None:
            write_textfile(self.path, exposition(registry, ALLOWUTF8))
        else:
            for piece in exposition(registry, UNDERSCORES):
                self.out.write(piece.decode())
            self.out.flush()
        self._spool.close()
