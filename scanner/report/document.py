"""Plain-dict forms of reports for the JSON, JSONL and CSV writers (pure).

These dicts are the JSON contract of DESIGN.md section 7 (``schema: ekuscan/inventory/1``):
field names never change within the schema version; new fields may be added.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from scanner.core.certs import name_attributes
from scanner.model import (
    AddedCertificate,
    CertFacts,
    ClientAuthTest,
    EndpointReport,
    Finding,
    Fingerprint,
    LinkVerdict,
    ObservedClientAuth,
    Sighting,
    TrustClass,
    TrustResult,
    UnparsedCert,
)
from scanner.report.inventory import HostCert, HostLink, HostReport, Summary, Timeline

SCHEMA = "ekuscan/inventory/1"


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second."""
    if value is None:
        return None
    return _iso(value)


@functools.lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    # Remembered: a certificate's dates and its links' break dates repeat on every port of a
    # host and in every endpoint of a sweep (about 1% of a live scan's CPU, formatted afresh).
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def cert_dict(cert: CertFacts | UnparsedCert) -> dict[str, Any]:
    if isinstance(cert, UnparsedCert):
        return {"sha256": cert.sha256, "parse_error": cert.error}
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "sha256": cert.sha256,
        "not_before": iso(cert.not_before),
        "not_after": iso(cert.not_after),
        "eku": list(cert.eku) if cert.eku is not None else None,
        "key_usage": list(cert.key_usage) if cert.key_usage is not None else None,
        "is_ca": cert.is_ca,
        "san": list(cert.san),
        "key": f"{cert.key.algorithm} {cert.key.bits}" if cert.key else None,
        "signature_hash": cert.signature_hash,
        "ns_cert_type": list(cert.ns_cert_type) if cert.ns_cert_type is not None else None,
        "ns_cert_type_error": cert.ns_cert_type_error,
    }


def added_dict(added: AddedCertificate) -> dict[str, Any]:
    """A certificate the chain was completed with: which, and where it came from."""
    return {
        "sha256": added.facts.sha256,
        "subject": added.facts.subject,
        "source": added.source.value,
        "url": added.url,
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity.label,
        "message": f.message,
        "cert_sha256": f.cert_sha256,
        "breaks_on": iso(f.breaks_on),
        "details": dict(f.details),
    }


def link_dict(link: LinkVerdict | HostLink) -> dict[str, Any]:
    return {
        "name": link.name,
        "uses": link.uses.value,
        "verdict": link.verdict.value,
        "reason": link.reason,
        "breaks_on": iso(link.breaks_on),
        "condition": link.condition,
    }


def observed_dict(observed: ObservedClientAuth | None) -> dict[str, Any] | None:
    """A server link's preflight evidence (``--client-cert``), beside the candidate's prediction."""
    if observed is None:
        return None
    return {
        "outcome": observed.outcome.value,
        "alert": observed.alert,
        "predicted": observed.predicted.value,
        "contradicts": observed.contradicts,
    }


def client_auth_test_dict(test: ClientAuthTest | None) -> dict[str, Any] | None:
    """What the server did with the ``--client-cert`` candidate; None without one."""
    if test is None:
        return None
    return {
        "certificate": test.certificate,
        "outcome": test.outcome.value,
        "alert": test.alert,
        "meaning": test.meaning,
    }


def _product(software: Fingerprint | None) -> str | None:
    return software.product.value if software else None


def _version(software: Fingerprint | None) -> str | None:
    return str(software.version) if software and software.version else None


def endpoint_dict(report: EndpointReport) -> dict[str, Any]:
    """The endpoint's JSON document: its parts below, in this order (the writers render the
    parts that endpoints share once: ``writers.json.EndpointLines``)."""
    return {
        **endpoint_head(report),
        **chain_part(report),
        **judgement_part(report),
        **endpoint_tail(report),
    }


def endpoint_head(report: EndpointReport) -> dict[str, Any]:
    """Where the endpoint is and what it said: ``target`` to ``software_version``."""
    obs = report.observation
    ep = obs.endpoint
    return {
        "target": ep.target,
        "host": ep.host,
        "ip": ep.ip,
        "port": ep.port,
        "role": report.role.value,
        "role_source": report.role_source.value,
        "label": ep.label,
        "sni": ep.sni,
        "status": obs.status.value,
        "error": obs.error,
        "tls_version": obs.tls_version,
        "cipher": obs.cipher,
        "tls_alert": obs.tls_alert,
        "client_cert_requested": obs.client_cert_requested,
        "client_ca_names": list(obs.client_ca_names),
        "sip_server": obs.sip_server,
        "http_server": obs.http_server,
        "product": _product(report.software),
        "software_version": _version(report.software),
    }


def chain_part(report: EndpointReport) -> dict[str, Any]:
    """The chain and its trust, ``chain`` to ``chain_added``: from ``report.chain`` and
    ``report.trust`` alone, the same for every port that shows the chain."""
    return {
        "chain": [cert_dict(c) for c in report.chain],
        "trust": report.trust.trust.value,
        "trust_anchor": report.trust.anchor,
        "root_programs": [p.value for p in report.trust.root_programs],
        "trust_basis": report.trust.basis.value,
        "chain_added": [added_dict(a) for a in report.trust.added],
    }


def judgement_part(report: EndpointReport) -> dict[str, Any]:
    """``findings`` to ``links``: from ``report.findings``, ``verdict``, ``breaks_on`` and ``links`` alone."""
    return {
        "findings": [finding_dict(f) for f in report.findings],
        "verdict": report.verdict.value,
        "breaks_on": iso(report.breaks_on),
        "links": [endpoint_link_dict(link) for link in report.links],
    }


def endpoint_link_dict(link: LinkVerdict) -> dict[str, Any]:
    """One of an endpoint's links, with the preflight's evidence on it."""
    return {**link_dict(link), "observed": observed_dict(link.observed)}


def endpoint_tail(report: EndpointReport) -> dict[str, Any]:
    """``duration_ms`` to the end: the probe's time, services, direction, preflight and sighting."""
    obs = report.observation
    return {
        "duration_ms": obs.duration_ms,
        "services": list(report.services),
        "direction": obs.direction.value,
        "client_auth_test": client_auth_test_dict(obs.client_auth_test),
        **sighting_dict(report.sighting),
    }


def sighting_dict(sighting: Sighting | None) -> dict[str, Any]:
    """Where an endpoint judged from the store was seen (``ekuscan report``); nothing for a scan."""
    if sighting is None:
        return {}
    return {
        "seen_at": iso(sighting.seen_at),
        "scanner": sighting.scanner,
        "run_id": sighting.run_id,
        "age_days": round(sighting.age.total_seconds() / 86400, 1),
        "stale": sighting.stale,
        "vanished": sighting.vanished,
        "rejudged": sighting.rejudged,
    }


def host_dict(host: HostReport) -> dict[str, Any]:
    return {
        "host": host.host,
        "role": host.role.value,
        "role_source": host.role_source.value,
        "product": _product(host.software),
        "software_version": _version(host.software),
        "label": host.label,
        "addresses": list(host.addresses),
        "ports": list(host.ports),
        "verdict": host.verdict.value,
        "breaks_on": iso(host.breaks_on),
        "certificates": [host_cert_dict(c) for c in host.certificates],
        "certificate_mismatch": host.certificate_mismatch,
        "certificates_by_service": {
            service: [host_cert_dict(c) for c in certs]
            for service, certs in host.certificates_by_service.items()
        },
        "links": [link_dict(link) for link in host.links],
    }


def host_cert_dict(cert: HostCert) -> dict[str, Any]:
    return {
        "sha256": cert.sha256,
        "subject": cert.subject,
        "trust": cert.trust.value,
        "not_after": iso(cert.not_after),
        "ports": list(cert.ports),
        "services": list(cert.services),
    }


def summary_dict(summary: Summary, duration_s: float) -> dict[str, Any]:
    return {
        "probes": summary.probes,
        "endpoints": summary.endpoints,
        "hosts": summary.hosts,
        "by_status": summary.by_status,
        "by_verdict": summary.by_verdict,
        "hosts_by_verdict": summary.hosts_by_verdict,
        "links_by_verdict": summary.links_by_verdict,
        "earliest_breaks_on": iso(summary.earliest_breaks_on),
        "timeline": timeline_dict(summary.timeline),
        "findings": [finding_dict(f) for f in summary.findings],
        "duration_s": round(duration_s, 3),
    }


def timeline_dict(timeline: Timeline | None) -> dict[str, Any] | None:
    if timeline is None:
        return None
    return {
        "evaluated_at": iso(timeline.now),
        "links_broken_by": [{"date": d.isoformat(), "links": n} for d, n in timeline.broken],
        "last_public_clientauth_day": (
            timeline.last_public_clientauth_day.isoformat() if timeline.last_public_clientauth_day else None
        ),
        "links_broken_by_last_public_clientauth_day": timeline.by_last_public_clientauth_day,
    }


def preflight_text(report: EndpointReport) -> str:
    """The preflight of one endpoint for people: "client certificate on 7001: rejected
    (unsupported_certificate): what that says; predicted for it: breaks"; "" without one."""
    test = report.observation.client_auth_test
    if test is None:
        return ""
    observed = next((link.observed for link in report.links if link.observed is not None), None)
    outcome = f"{test.outcome.value} ({test.alert})" if test.alert else test.outcome.value
    text = f"client certificate on {report.endpoint.port}: {outcome}: {test.meaning}"
    if observed is not None:
        text += f"; predicted for it: {observed.predicted.value}"
        text += ", contradicted by the server" if observed.contradicts else ""
    return text


def common_name(subject: str) -> str:
    """A certificate's CN for people (its whole subject where it has none)."""
    return name_attributes(subject).get("CN", subject)


def trust_text(trust: TrustResult, *, brief: bool = False) -> str:
    """A chain's trust class for people, with the root programs of a public anchor:
    "public (chrome, mozilla)". ``brief`` (the table) names the programs only where Chrome's
    rules do not bind the chain: "public (mozilla)", else just "public"."""
    if trust.trust is not TrustClass.PUBLIC or not trust.root_programs or (brief and trust.chrome_bound):
        return trust.trust.value
    return f"{trust.trust.value} ({', '.join(p.value for p in trust.root_programs)})"
