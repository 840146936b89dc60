"""``ekuscan lab``: serve the built-in lab (a simulated Expressway estate in trouble) on loopback."""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import trio

from scanner import lab as labmod
from scanner.app.errors import ScanFailed, UsageFailure
from scanner.app.output import open_output
from scanner.edge.pool import run_trio


@dataclass(frozen=True, slots=True)
class LabRequest:
    base: str = "127.0.2.0"
    write_targets: Path | None = None
    public_root_out: Path | None = None
    duration: float | None = None  # seconds; None: until Ctrl-C
    intermediates_out: Path | None = None  # the lab's public intermediates, for --intermediates


def run_lab(request: LabRequest, now: datetime) -> None:
    """Serve until ``duration`` passes or Ctrl-C; the lab's PKI is dated from ``now``."""
    try:
        base_ip = ipaddress.ip_address(request.base)
    except ValueError:
        raise UsageFailure(f"--base: {request.base!r} is not an address") from None
    if not base_ip.is_loopback:
        raise UsageFailure(f"--base: {request.base} is not a loopback address; the lab serves loopback only")
    pki = labmod.LabPKI.generate(now)
    lab_plan = labmod.make_plan(pki, request.base)
    public_root_out = request.public_root_out
    if public_root_out is None and request.write_targets is not None:
        public_root_out = request.write_targets.with_name(request.write_targets.stem + "-public-root.pem")
    intermediates_out = request.intermediates_out
    if intermediates_out is None and request.write_targets is not None:
        intermediates_out = request.write_targets.with_name(request.write_targets.stem + "-intermediates.pem")

    async def main() -> None:
        with trio.move_on_after(request.duration if request.duration is not None else float("inf")):
            async with trio.open_nursery() as nursery:
                services = await nursery.start(labmod.serve_lab, lab_plan)
                _announce(lab_plan, services, request.write_targets, public_root_out, intermediates_out)

    try:
        run_trio(main)
    except KeyboardInterrupt:
        print("ekuscan lab: stopped", file=sys.stderr)
    except OSError as exc:
        raise ScanFailed(f"the lab cannot listen: {exc.strerror or exc}") from None


def _announce(
    lab_plan: labmod.LabPlan,
    services: list[labmod.BoundService],
    write_targets: Path | None,
    public_root_out: Path | None,
    intermediates_out: Path | None,
) -> None:
    if public_root_out is not None:
        with open_output(public_root_out) as out:
            out.write(lab_plan.pki.public_root.pem.decode())
    if intermediates_out is not None:
        with open_output(intermediates_out) as out:
            out.write("".join(ca.pem.decode() for ca in lab_plan.pki.public_intermediates))
    if write_targets is not None:
        with open_output(write_targets) as out:
            out.write(labmod.targets_csv(services))
    print("ekuscan lab: serving (Ctrl-C stops it)")
    for note in lab_plan.notes:
        print(f"  note: {note}")
    described: set[str] = set()
    for s in services:
        about = "" if s.host.name in described else s.host.about
        described.add(s.host.name)
        kind = s.service.behaviour.value
        print(f"  {s.target:<20} {s.host.role.value:<13} {s.host.name:<13} {kind:<10} {about}")
    if write_targets is not None:
        roots = f" --public-roots {public_root_out}" if public_root_out else ""
        intermediates = f" --intermediates {intermediates_out}" if intermediates_out else ""
        print(f"scan it with: ekuscan scan -i {write_targets}{roots}{intermediates}")
    sys.stdout.flush()
