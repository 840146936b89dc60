"""What the store writes and reads, as plain data (pure).

An endpoint is stored as the JSON document that ``-f json`` prints for it, plus the columns
that queries filter on. The document is taken from ``endpoint_dict`` and not rebuilt from the
models here, so fields that later versions add to the JSON are stored without a schema change.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from scanner.model import EndpointReport
from scanner.report.document import endpoint_dict, host_dict
from scanner.report.evidence import der_sha256, observation_facts
from scanner.report.inventory import HostReport


class RunStatus(enum.StrEnum):
    RUNNING = "running"  # still going, or its process died (SIGKILL, power loss)
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # Ctrl-C: holds what was found until then
    TERMINATED = "terminated"  # SIGTERM: likewise
    FAILED = "failed"  # the run stopped on an error
    ABANDONED = "abandoned"  # found still "running" by a later run of the same scanner


class RunKind(enum.StrEnum):
    """What a run did (the ``runs.kind`` column, schema version 3)."""

    SCAN = "scan"  # ekuscan scan: the endpoints it dialled
    LISTEN = "listen"  # ekuscan listen: the clients that connected to it


@dataclass(frozen=True, slots=True)
class CertRecord:
    sha256: str
    subject: str | None
    issuer: str | None
    not_before: str | None
    not_after: str | None
    document: str
    der: bytes | None = None  # None: not presented by this observation (or recorded before version 3)


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    host: str
    ip: str | None
    port: int
    role: str
    status: str
    verdict: str
    breaks_on: str | None
    leaf_sha256: str | None
    document: str  # the endpoint's JSON, its chain as a list of SHA-256
    certificates: tuple[CertRecord, ...]
    findings: tuple[tuple[str, str, str | None], ...]  # code, severity, cert_sha256
    facts: str | None = None  # the observation's facts (scanner.report.evidence), to judge it again


@dataclass(frozen=True, slots=True)
class HostRecord:
    host: str
    role: str
    verdict: str
    breaks_on: str | None
    document: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    scanner: str
    started_at: str
    evaluated_at: str
    finished_at: str | None
    status: RunStatus
    tool_version: str
    endpoints: int
    summary: dict[str, Any] | None
    kind: RunKind = RunKind.SCAN


def text_column(value: str | None) -> str | None:
    """A value for a TEXT column: PostgreSQL refuses NUL characters, so they are spelled out.

    The JSON documents need no such care: JSON escapes NUL (``\\u0000``).
    """
    return value.replace("\x00", "\\x00") if value is not None else None


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def endpoint_record(report: EndpointReport) -> EndpointRecord:
    """The endpoint's document, and the evidence: its observation's facts and the chain's DER."""
    doc = endpoint_dict(report)
    observation = report.observation
    ders = {der_sha256(der): der for der in observation.chain_der}
    return endpoint_record_from_dict(doc, dumps(observation_facts(observation)), ders)


def endpoint_record_from_dict(
    doc: dict[str, Any], facts: str | None = None, ders: dict[str, bytes] | None = None
) -> EndpointRecord:
    """The record of one endpoint document (``endpoint_dict`` output), with its evidence if given."""
    chain: list[dict[str, Any]] = doc.get("chain") or []
    certificates = tuple(
        CertRecord(
            sha256=c["sha256"],
            subject=text_column(c.get("subject")),
            issuer=text_column(c.get("issuer")),
            not_before=c.get("not_before"),
            not_after=c.get("not_after"),
            document=dumps(c),
            der=(ders or {}).get(c["sha256"]),
        )
        for c in chain
    )
    stored = {**doc, "chain": [c["sha256"] for c in chain]}
    return EndpointRecord(
        host=str(text_column(doc["host"])),
        ip=text_column(doc.get("ip")),
        port=int(doc["port"]),
        role=doc["role"],
        status=doc["status"],
        verdict=doc["verdict"],
        breaks_on=doc.get("breaks_on"),
        leaf_sha256=chain[0]["sha256"] if chain else None,
        document=dumps(stored),
        certificates=certificates,
        findings=tuple((f["code"], f["severity"], f.get("cert_sha256")) for f in doc.get("findings", ())),
        facts=facts,
    )


def host_record(host: HostReport) -> HostRecord:
    doc = host_dict(host)
    return HostRecord(
        str(text_column(doc["host"])), doc["role"], doc["verdict"], doc["breaks_on"], dumps(doc)
    )


def inflate(document: str, certificates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The endpoint's JSON document again, its chain filled in from the stored certificates."""
    doc: dict[str, Any] = json.loads(document)
    doc["chain"] = [certificates.get(sha, {"sha256": sha}) for sha in doc.get("chain", ())]
    return doc
