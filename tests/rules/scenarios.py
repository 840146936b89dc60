"""What the per-rule tests share: a scenario (observation + context + labelled certificates)
and the questions they ask of its analysis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.certs import sha256_hex
from scanner.core.rules import RULES_BY_CODE
from scanner.model import Endpoint, Observation, Status
from tests.conftest import context

GARBAGE = b"\x30\x82\x01\x00 this is not a certificate"


@dataclass(frozen=True)
class Scenario:
    obs: Observation
    ctx: AnalysisContext
    certs: dict[str, bytes]  # label -> DER, to name the certificate a finding points at


Build = Callable[[], Scenario]


def no_certificate() -> Scenario:
    endpoint = Endpoint(target="192.0.2.10", host="192.0.2.10", ip="192.0.2.10", port=5061)
    return Scenario(Observation(endpoint, Status.TIMEOUT), context(), {})


def flagged(s: Scenario, code: str) -> tuple[str, ...]:
    """Labels of the certificates the rule flagged, in finding order; checks the severity too."""
    report = analyze(s.obs, s.ctx)
    labels = {sha256_hex(der): label for label, der in s.certs.items()}
    found = [f for f in report.findings if f.code == code]
    for f in found:
        assert f.severity is RULES_BY_CODE[code].severity
        assert f.message
    return tuple(labels.get(f.cert_sha256 or "", "?") for f in found)


def messages(s: Scenario, code: str) -> list[str]:
    return [f.message for f in analyze(s.obs, s.ctx).findings if f.code == code]
