"""Prometheus metrics in the node_exporter textfile format, through prometheus_client.

The metrics are built in a private ``CollectorRegistry`` and written with
``write_to_textfile`` (temporary file, then rename: node_exporter never reads half a file), or
rendered with ``generate_latest`` when they go to stdout. Every series of one endpoint carries
``host``, ``ip``, ``port`` and ``role``; link series add ``link`` and ``uses``.

Alerting examples: ``ekuscan_link_breaks == 1``, ``ekuscan_breaks_on_seconds - time() < 30 * 86400``,
``ekuscan_cert_not_after_seconds - time() < 14 * 86400``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile

from scanner.inventory import Inventory
from scanner.models import EndpointReport, Verdict
from scanner.writers._base import RunInfo, Writer

ENDPOINT_LABELS = ("host", "ip", "port", "role")


class PrometheusWriter(Writer):
    def __init__(self, out: TextIO, run: RunInfo, *, path: Path | None = None) -> None:
        super().__init__(out, run)
        self.path = path
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.not_after = Gauge(
            "ekuscan_cert_not_after_seconds",
            "Expiry (not_after) of the leaf certificate an endpoint presents, as a Unix time.",
            ENDPOINT_LABELS,
            registry=registry,
        )
        self.breaks_on = Gauge(
            "ekuscan_breaks_on_seconds",
            "When the endpoint's first link breaks (or broke), as a Unix time; absent when no date is known.",
            ENDPOINT_LABELS,
            registry=registry,
        )
        self.endpoint_verdict = Gauge(
            "ekuscan_endpoint_verdict",
            "1 for the endpoint's verdict (breaks, at-risk, ok, unknown), 0 for the others.",
            (*ENDPOINT_LABELS, "verdict"),
            registry=registry,
        )
        self.link_breaks = Gauge(
            "ekuscan_link_breaks",
            "1 when the link breaks now, else 0.",
            (*ENDPOINT_LABELS, "link", "uses"),
            registry=registry,
        )
        self.link_verdict = Gauge(
            "ekuscan_link_verdict",
            "1 for the link's verdict, 0 for the others.",
            (*ENDPOINT_LABELS, "link", "uses", "verdict"),
            registry=registry,
        )
        self.link_breaks_on = Gauge(
            "ekuscan_link_breaks_on_seconds",
            "When the link breaks (or broke), as a Unix time; absent when no date is known.",
            (*ENDPOINT_LABELS, "link", "uses"),
            registry=registry,
        )

    def add(self, report: EndpointReport) -> None:
        ep = report.endpoint
        labels = (ep.host, ep.ip or "", str(ep.port), report.role.value)
        leaf = report.leaf
        if leaf is not None:
            self.not_after.labels(*labels).set(leaf.not_after.timestamp())
        if report.breaks_on is not None:
            self.breaks_on.labels(*labels).set(report.breaks_on.timestamp())
        for verdict in Verdict:
            self.endpoint_verdict.labels(*labels, verdict.value).set(1 if report.verdict is verdict else 0)
        for link in report.links:
            link_labels = (*labels, link.name, link.uses.value)
            self.link_breaks.labels(*link_labels).set(1 if link.verdict is Verdict.BREAKS else 0)
            for verdict in Verdict:
                self.link_verdict.labels(*link_labels, verdict.value).set(1 if link.verdict is verdict else 0)
            if link.breaks_on is not None:
                self.link_breaks_on.labels(*link_labels).set(link.breaks_on.timestamp())

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
        by_status = Gauge("ekuscan_probes_by_status", "Probes by outcome.", ["status"], registry=registry)
        for status, count in summary.by_status.items():
            by_status.labels(status).set(count)
        endpoints = Gauge("ekuscan_endpoints", "Listed endpoints by verdict.", ["verdict"], registry=registry)
        for verdict, count in summary.by_verdict.items():
            endpoints.labels(verdict).set(count)
        hosts = Gauge("ekuscan_hosts", "Hosts by their worst verdict.", ["verdict"], registry=registry)
        for verdict, count in summary.hosts_by_verdict.items():
            hosts.labels(verdict).set(count)
        links = Gauge("ekuscan_links", "Link verdicts by verdict.", ["verdict"], registry=registry)
        for verdict, count in summary.links_by_verdict.items():
            links.labels(verdict).set(count)
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
        for host in inventory.hosts():
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
        if self.path is not None:
            write_to_textfile(str(self.path), registry)  # temporary file + rename: atomic
        else:
            self.out.write(generate_latest(registry).decode())
            self.out.flush()
