"""What a run is judged with, read and checked once: evaluation time, roots, intermediates, policy, targets.

Every problem becomes a ``UsageFailure`` that names the option or file at fault.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scanner.app.errors import UsageFailure
from scanner.core.analysis import AnalysisContext
from scanner.core.certs import NoCertificateError, split_certificates
from scanner.core.completion import IntermediatePool
from scanner.core.discovery import DiscoveryOptions, InputFormat, check_options, read_targets, sniff
from scanner.core.intermediates import index_keys
from scanner.core.policy import Policy, PolicyError
from scanner.core.targets import Shard, TargetError, TargetSpec, parse_csv, parse_target
from scanner.core.trust import ProgramRoots, RootStore, load_pem_bundle, pem_program_roots
from scanner.edge.files import default_roots_path, intermediate_pool, load_packaged_policy, load_policy_file
from scanner.model import Fingerprint, Product, Role, RootProgram, Version


def parse_at(text: str | None, now: datetime) -> datetime:
    """``--at``: a date (midnight UTC) or a date-time (UTC unless it says otherwise)."""
    if not text:
        return now
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageFailure(f"--at: {text!r} is not an ISO date or date-time (e.g. 2027-03-15)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RootBundle:
    """``--public-roots`` (or certifi's bundle) as read: the bytes go to worker processes as they are.

    certifi's bundle is Mozilla's root program; a bundle the user gives is the ``user`` program,
    which counts as Chrome-bound. Beside a user's bundle, ``mozilla`` holds certifi's roots, so
    that an anchor's Mozilla membership is still reported.
    """

    source: Path
    pem: bytes
    program: RootProgram = RootProgram.USER
    mozilla: ProgramRoots | None = None

    def store(self) -> RootStore:
        try:
            store = load_pem_bundle(self.pem, self.program)
        except NoCertificateError:
            raise UsageFailure(f"--public-roots: {self.source} holds no PEM certificate") from None
        if not len(store):
            raise UsageFailure(f"--public-roots: no certificate in {self.source} could be parsed")
        return store


def read_roots(path: Path | None) -> RootBundle:
    if path is None:
        source = default_roots_path()
        return RootBundle(source, _read_bundle(source), RootProgram.MOZILLA)
    return RootBundle(path, _read_bundle(path), RootProgram.USER, mozilla_roots())


def mozilla_roots() -> ProgramRoots | None:
    """certifi's roots as the Mozilla program; None where certifi's file cannot be read."""
    try:
        return pem_program_roots(default_roots_path().read_bytes(), RootProgram.MOZILLA)
    except (OSError, NoCertificateError):
        return None  # only the membership report loses "mozilla"; "public" is the user's bundle


def _read_bundle(source: Path) -> bytes:
    try:
        return source.read_bytes()
    except OSError as exc:
        raise UsageFailure(f"--public-roots: cannot read {source}: {exc.strerror or exc}") from None


def read_intermediates(path: Path | None) -> bytes:
    """``--intermediates PEM`` as read (b"" without it), checked to hold at least one certificate;
    the bytes go to worker processes as they are."""
    if path is None:
        return b""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageFailure(f"--intermediates: cannot read {path}: {exc.strerror or exc}") from None
    try:
        ders = split_certificates(data)
    except NoCertificateError:
        raise UsageFailure(f"--intermediates: {path} holds no PEM certificate") from None
    if not any(index_keys(der) is not None for der in ders):
        raise UsageFailure(f"--intermediates: no certificate in {path} could be parsed")
    return data


def load_policy(path: Path | None) -> Policy:
    """The packaged policy, or a user's file: every problem in it is reported, one per line."""
    if path is None:
        return load_packaged_policy()
    try:
        return load_policy_file(path)
    except OSError as exc:
        raise UsageFailure(f"--policy: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageFailure(f"--policy: {path} is not a UTF-8 text file") from None
    except PolicyError as exc:
        count = len(exc.problems)
        raise UsageFailure(
            f"--policy: {path} is not a valid policy ({count} problem{'s' if count != 1 else ''}):",
            tuple(f"{path}: {problem}" for problem in exc.problems),
        ) from None


def analysis_context(
    roots: RootBundle,
    at: str | None,
    warn_days: int | None,
    policy: Policy,
    now: datetime,
    intermediates: IntermediatePool | None = None,
) -> AnalysisContext:
    """The context of the analysis; ``intermediates`` defaults to the packaged public ones."""
    return AnalysisContext(
        now=parse_at(at, now),
        warn=timedelta(days=policy.warn_days if warn_days is None else warn_days),
        roots=roots.store(),
        policy=policy,
        mozilla_roots=roots.mozilla,
        intermediates=intermediate_pool() if intermediates is None else intermediates,
    )


def release_fingerprint(text: str) -> Fingerprint:
    """``inspect --release X15.4``: judge as if installed on that Expressway release."""
    try:
        version = Version.parse(text if text[:1] in "xX" else f"X{text}")
    except ValueError:
        raise UsageFailure(f"--release: {text!r} is not an Expressway release (e.g. X15.4)") from None
    return Fingerprint(Product.EXPRESSWAY, Version(version.parts, "X"), f"--release {text}")


def target_specs(
    targets: list[str],
    input_csv: Path | None,
    ports: tuple[int, ...],
    role: Role | None,
    sni: str | None,
    discovery: DiscoveryOptions | None = None,
    policy: Policy | None = None,
) -> list[TargetSpec]:
    """The arguments' and the ``-i`` file's targets; a bad one raises ``TargetError`` naming it.

    The file is a target CSV or discovery output (nmap, masscan, zmap), told apart by content;
    ``discovery`` says what the command line adds to discovered addresses. A CSV's ``links``
    column may name the policy's links only.
    """
    specs = [parse_target(t, ports, role, sni) for t in targets]
    if input_csv is not None:
        options = discovery or DiscoveryOptions(role=role, sni=sni)
        link_names = policy.link_names if policy is not None else None
        try:
            with input_csv.open(encoding="utf-8-sig") as handle:
                fmt, lines = sniff(handle, str(input_csv))
                check_options(fmt, str(input_csv), options)
                if fmt is InputFormat.TARGET_CSV:
                    specs += parse_csv(lines, str(input_csv), ports, role, link_names)
                else:
                    specs += read_targets(fmt, lines, str(input_csv), options)
        except OSError as exc:
            raise TargetError(f"{input_csv}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise TargetError(f"{input_csv}: not a UTF-8 text file") from None
    return specs


def probe_estimate(specs: list[TargetSpec], shard: Shard | None) -> int:
    """Probes in the sweep (before duplicates are dropped and names resolved; a shard's share)."""
    total = sum(spec.probe_count for spec in specs)
    return total if shard is None else -(-total // shard.count)


def scanner_name(given: str | None) -> str:
    """``--scanner-name``, or this machine's host name: who recorded a run in a shared database."""
    name = (given if given is not None else socket.gethostname()).strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        raise UsageFailure(f"--scanner-name: {name!r} is not a usable name (1-200 printable characters)")
    return name
