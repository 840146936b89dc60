"""What a run is judged with, read and checked once: the evaluation time, root bundle, policy and targets.

Every problem becomes a ``UsageFailure`` that names the option or file at fault.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scanner.app.errors import UsageFailure
from scanner.core.analysis import AnalysisContext
from scanner.core.certs import NoCertificateError
from scanner.core.policy import Policy, PolicyError
from scanner.core.targets import Shard, TargetError, TargetSpec, parse_csv, parse_target
from scanner.core.trust import RootStore, load_pem_bundle
from scanner.edge.files import default_roots_path, load_packaged_policy, load_policy_file
from scanner.model import Fingerprint, Product, Role, Version


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
    """``--public-roots`` (or certifi's bundle) as read: the bytes go to worker processes as they are."""

    source: Path
    pem: bytes

    def store(self) -> RootStore:
        try:
            store = load_pem_bundle(self.pem)
        except NoCertificateError:
            raise UsageFailure(f"--public-roots: {self.source} holds no PEM certificate") from None
        if not len(store):
            raise UsageFailure(f"--public-roots: no certificate in {self.source} could be parsed")
        return store


def read_roots(path: Path | None) -> RootBundle:
    source = default_roots_path() if path is None else path
    try:
        return RootBundle(source, source.read_bytes())
    except OSError as exc:
        raise UsageFailure(f"--public-roots: cannot read {source}: {exc.strerror or exc}") from None


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
    roots: RootBundle, at: str | None, warn_days: int | None, policy: Policy, now: datetime
) -> AnalysisContext:
    return AnalysisContext(
        now=parse_at(at, now),
        warn=timedelta(days=policy.warn_days if warn_days is None else warn_days),
        roots=roots.store(),
        policy=policy,
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
    policy: Policy | None = None,
) -> list[TargetSpec]:
    """The arguments' and the CSV's targets; a bad one raises ``TargetError`` naming it. The
    CSV's ``links`` column may name the policy's links only."""
    specs = [parse_target(t, ports, role, sni) for t in targets]
    if input_csv is not None:
        link_names = policy.link_names if policy is not None else None
        try:
            with input_csv.open(encoding="utf-8-sig") as handle:
                specs += parse_csv(handle, str(input_csv), ports, role, link_names)
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
