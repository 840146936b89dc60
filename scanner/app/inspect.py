"""``ekuscan inspect``: certificate files judged offline, with the same engine and writers as a live scan."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scanner.app.errors import UsageFailure
from scanner.app.inputs import (
    analysis_context,
    load_policy,
    read_intermediates,
    read_roots,
    release_fingerprint,
)
from scanner.app.output import reporting
from scanner.core.analysis import OFFLINE_PORT, AnalysisContext, analyze_host
from scanner.core.certs import NoCertificateError, split_certificates
from scanner.edge.files import intermediate_pool
from scanner.model import Endpoint, Observation, Role, Status, Use, Verdict
from scanner.writers import OutputFormat


@dataclass(frozen=True, slots=True)
class InspectRequest:
    files: tuple[Path, ...]
    role: Role | None = None
    name: str | None = None  # --name: the DNS name the leaf must cover
    public_roots: Path | None = None
    at: str | None = None
    warn_days: int | None = None
    fmt: OutputFormat | None = None
    output: Path | None = None
    policy_file: Path | None = None
    release: str | None = None  # --release X15.4: judge as if installed on that release
    intermediates: Path | None = None  # --intermediates PEM: completes chains besides the packaged set
    fetch_issuers: bool = False  # --fetch-issuers: fetch a missing issuer from its AIA URL
    judged_as: Use | None = None  # --as client|server: one side's links only (None: both)


def read_chain(files: tuple[Path, ...]) -> tuple[bytes, ...]:
    """The certificates of the files, in order (PEM or DER; one certificate or a chain each)."""
    chain: list[bytes] = []
    for path in files:
        try:
            chain += split_certificates(path.read_bytes())
        except OSError as exc:
            raise UsageFailure(f"{path}: {exc.strerror or exc}") from None
        except NoCertificateError:
            raise UsageFailure(f"{path}: no certificate found (expected PEM or DER)") from None
    return tuple(chain)


def run_inspect(request: InspectRequest, now: datetime) -> Verdict:
    """Judge the files like one endpoint and write the report; returns its worst verdict."""
    chain = read_chain(request.files)
    policy = load_policy(request.policy_file)
    pool = intermediate_pool(read_intermediates(request.intermediates))
    analysis = analysis_context(
        read_roots(request.public_roots), request.at, request.warn_days, policy, now, pool
    )
    if request.release is not None:
        analysis = dataclasses.replace(analysis, assumed_software=release_fingerprint(request.release))
    if request.judged_as is not None:
        analysis = dataclasses.replace(analysis, judged_as=request.judged_as)
    endpoint = Endpoint(
        target=" ".join(str(f) for f in request.files),
        host=str(request.files[0]),
        ip=None,
        port=OFFLINE_PORT,
        role=request.role,
        sni=request.name,
    )
    observation = Observation(endpoint, Status.OK, chain_der=chain)
    if request.fetch_issuers:
        analysis = _with_fetched_issuers(observation, analysis)
    with reporting(analysis, request.fmt, request.output, now) as stream:
        for report in analyze_host([observation], analysis):
            stream.record(report)
    return stream.inventory.worst_verdict()


def _with_fetched_issuers(observation: Observation, analysis: AnalysisContext) -> AnalysisContext:
    """``analysis`` with the issuers the files' chain misses, fetched from their AIA URLs."""
    # trio and the fetcher load only here: an inspect without --fetch-issuers runs no event loop.
    from scanner.app.recording import log_fetch
    from scanner.edge import runlog
    from scanner.edge.issuers import FETCH_TIMEOUT_SECONDS, ChainCompleter, IssuerFetcher
    from scanner.edge.pool import run_trio

    log = runlog.Log()
    completer = ChainCompleter(IssuerFetcher(FETCH_TIMEOUT_SECONDS, on_result=lambda r: log_fetch(log, r)))
    completed = [analysis]

    async def fetch() -> None:
        completed[0] = await completer.prepare([observation], analysis)

    run_trio(fetch)
    return completed[0]
