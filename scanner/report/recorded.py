"""An endpoint report rebuilt from its stored JSON document, verdicts as recorded then (pure).

Observations recorded before the store kept the evidence (schema version 3) cannot be judged
again: ``ekuscan report`` shows them with what was recorded, read back here from the document
``endpoint_dict`` wrote. Nothing is judged: findings, links, verdict and dates are the stored ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.model import (
    CertFacts,
    Endpoint,
    EndpointReport,
    Finding,
    Fingerprint,
    KeyFacts,
    LinkVerdict,
    Observation,
    Product,
    Role,
    RoleSource,
    RootProgram,
    Severity,
    Status,
    TrustBasis,
    TrustClass,
    TrustResult,
    UnparsedCert,
    Use,
    Verdict,
    Version,
)

# Statuses at which something accepted the TCP connection (``connected`` was not stored then).
_CONNECTED = frozenset({Status.OK, Status.NO_TLS, Status.TLS_ERROR})


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _key(text: Any) -> KeyFacts | None:
    algorithm, _, bits = str(text or "").partition(" ")
    return KeyFacts(algorithm, int(bits)) if algorithm and bits.isdigit() else None


def recorded_cert(doc: dict[str, Any]) -> CertFacts | UnparsedCert:
    """A certificate's facts from its stored JSON form (``cert_dict``)."""
    sha = str(doc.get("sha256", ""))
    not_before, not_after = _moment(doc.get("not_before")), _moment(doc.get("not_after"))
    if "parse_error" in doc or not_before is None or not_after is None:
        return UnparsedCert(sha, str(doc.get("parse_error") or "not in the history store"))
    san = [str(s) for s in doc.get("san") or ()]
    eku, key_usage = doc.get("eku"), doc.get("key_usage")
    ns = doc.get("ns_cert_type")
    return CertFacts(
        sha256=sha,
        subject=str(doc.get("subject", "")),
        issuer=str(doc.get("issuer", "")),
        serial=str(doc.get("serial", "")),
        not_before=not_before,
        not_after=not_after,
        eku=tuple(eku) if eku is not None else None,
        key_usage=tuple(key_usage) if key_usage is not None else None,
        is_ca=bool(doc.get("is_ca")),
        san_dns=tuple(s[4:] for s in san if s.startswith("DNS:")),
        san_ip=tuple(s[3:] for s in san if s.startswith("IP:")),
        key=_key(doc.get("key")),
        signature_hash=doc.get("signature_hash"),
        self_issued=doc.get("subject") == doc.get("issuer"),
        issuer_organization=None,
        ns_cert_type=tuple(ns) if ns is not None else None,
        ns_cert_type_error=doc.get("ns_cert_type_error"),
    )


def _finding(doc: dict[str, Any]) -> Finding:
    details = doc.get("details") or {}
    return Finding(
        code=str(doc["code"]),
        severity=Severity[str(doc["severity"]).upper()],
        message=str(doc.get("message", "")),
        cert_sha256=doc.get("cert_sha256"),
        breaks_on=_moment(doc.get("breaks_on")),
        details=tuple((str(k), str(v)) for k, v in details.items()),
    )


def _link(doc: dict[str, Any]) -> LinkVerdict:
    return LinkVerdict(
        name=str(doc["name"]),
        uses=Use(doc["uses"]),
        verdict=Verdict(doc["verdict"]),
        reason=str(doc.get("reason", "")),
        breaks_on=_moment(doc.get("breaks_on")),
        condition=doc.get("condition"),
    )


def _software(doc: dict[str, Any]) -> Fingerprint | None:
    if not doc.get("product"):
        return None
    version = doc.get("software_version")
    banner = doc.get("sip_server") or doc.get("http_server") or ""
    return Fingerprint(Product(doc["product"]), Version.parse(version) if version else None, str(banner))


def recorded_observation(doc: dict[str, Any]) -> Observation:
    """What the document says the probe saw; the chain's DER was not stored."""
    role_source = RoleSource(doc.get("role_source", RoleSource.DEFAULT.value))
    status = Status(doc["status"])
    endpoint = Endpoint(
        target=str(doc.get("target", doc["host"])),
        host=str(doc["host"]),
        ip=doc.get("ip"),
        port=int(doc["port"]),
        role=Role(doc["role"]) if role_source is RoleSource.GIVEN else None,
        sni=doc.get("sni"),
        label=str(doc.get("label", "")),
    )
    return Observation(
        endpoint=endpoint,
        status=status,
        error=doc.get("error"),
        connected=status in _CONNECTED,
        tls_version=doc.get("tls_version"),
        cipher=doc.get("cipher"),
        client_cert_requested=bool(doc.get("client_cert_requested")),
        client_ca_names=tuple(str(n) for n in doc.get("client_ca_names") or ()),
        tls_alert=doc.get("tls_alert"),
        sip_server=doc.get("sip_server"),
        http_server=doc.get("http_server"),
        duration_ms=float(doc.get("duration_ms") or 0.0),
    )


def recorded_report(doc: dict[str, Any]) -> EndpointReport:
    """The report as it was recorded, from its document with the chain filled in (``inflate``)."""
    programs = tuple(RootProgram(p) for p in doc.get("root_programs") or ())
    trust = TrustResult(
        trust=TrustClass(doc.get("trust", TrustClass.NONE.value)),
        anchor=doc.get("trust_anchor"),
        complete=doc.get("trust_anchor") is not None,
        path=(),
        root_programs=programs,
        basis=TrustBasis(doc.get("trust_basis", TrustBasis.PRESENTED.value)),
    )
    return EndpointReport(
        observation=recorded_observation(doc),
        role=Role(doc["role"]),
        chain=tuple(recorded_cert(c) for c in doc.get("chain") or ()),
        trust=trust,
        findings=tuple(_finding(f) for f in doc.get("findings") or ()),
        links=tuple(_link(link) for link in doc.get("links") or ()),
        verdict=Verdict(doc["verdict"]),
        breaks_on=_moment(doc.get("breaks_on")),
        role_source=RoleSource(doc.get("role_source", RoleSource.DEFAULT.value)),
        software=_software(doc),
        services=tuple(str(s) for s in doc.get("services") or ()),
    )


__all__ = ["recorded_cert", "recorded_observation", "recorded_report"]
