"""Where a run's reports go: the chosen writer (stdout or a file written atomically) and the inventory.

``ReportStream`` is the one consumer of a run's endpoint reports, whoever made them (this
process or a worker): it counts them into the inventory, hands the listed ones to the writer,
and moves the progress line.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from scanner import __version__
from scanner.app.errors import ScanFailed
from scanner.core.analysis import AnalysisContext
from scanner.core.peers import link_pairs
from scanner.edge.files import OutputError, atomic_output
from scanner.edge.spool import DiskSpool
from scanner.model import EndpointReport, Status
from scanner.report.inventory import EndpointSortKey, HostShare, Inventory
from scanner.report.sink import HostPackage, ScannerFreshness
from scanner.writers import SUFFIXES, OutputFormat, RunInfo, Writer, make_writer

if TYPE_CHECKING:  # the history store loads only for --db, trio only for a scan (start-up time, memory)
    from scanner.edge.frames import Outcome
    from scanner.edge.progress import Progress
    from scanner.store.session import RunSession


def pick_format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    if fmt is not None:
        return fmt
    if output is not None:
        return SUFFIXES.get(output.suffix.lower().lstrip("."), OutputFormat.TABLE)
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSON


def use_color(fmt: OutputFormat, output: Path | None) -> bool:
    return (
        fmt is OutputFormat.TABLE
        and output is None
        and sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
    )


@contextmanager
def open_output(output: Path | None) -> Iterator[TextIO]:
    """stdout, or ``output`` written atomically; a file that cannot be written fails the run."""
    try:
        with atomic_output(output) as out:
            yield out
    except OutputError as exc:
        raise ScanFailed(str(exc)) from None


class ReportStream:
    """Counts and writes the endpoint reports of one run, in the order they come."""

    def __init__(self, writer: Writer, inventory: Inventory) -> None:
        self.writer, self.inventory = writer, inventory
        self.progress: Progress | None = None

    def record(self, report: Outcome) -> None:
        """An endpoint's report; or only its status, for a probe the output does not list; or a
        host a worker judged and rendered with this stream's writer's renderer."""
        if isinstance(report, Status):
            self.inventory.count_unlisted(report)
            if self.progress is not None:
                self.progress.advance()
            return
        if isinstance(report, HostPackage):
            self.record_host(report.share, report.rendered)
            if self.progress is not None:
                self.progress.add(report.probes, report.live)
            return
        if self.inventory.add(report):
            self.writer.add(report)
        if self.progress is not None:
            self.progress.update(report)

    def record_host(
        self,
        share: HostShare,
        rendered: Iterable[tuple[EndpointSortKey, bytes]],
        reports: Iterable[EndpointReport] = (),
    ) -> None:
        """A host judged elsewhere: its share of the inventory, and its listed endpoints either
        rendered by the writer's renderer or as reports (as ``record`` of each would have done)."""
        self.inventory.add_share(share)
        for key, data in rendered:
            self.writer.add_rendered(key, data)
        for report in reports:
            self.writer.add(report)


@contextmanager
def reporting(
    analysis: AnalysisContext,
    fmt: OutputFormat | None,
    output: Path | None,
    started: datetime,
    *,
    show_all: bool = False,
    session: RunSession | None = None,
    discard: bool = False,
    scanners: tuple[ScannerFreshness, ...] = (),
) -> Iterator[ReportStream]:
    """A ReportStream whose writer is finished, and whose output file is committed, when the block ends.

    ``session``: also record every listed endpoint in the history store. ``discard``: render
    the inventory nowhere (``--only-changes`` without ``-o``). ``scanners``: a report from the
    history store (``ekuscan report``), whose HTML shows each scanner's freshness.
    """
    chosen = pick_format(fmt, output)
    clock = time.monotonic()
    with _output_for(chosen, output, discard) as out:
        writer = make_writer(
            chosen,
            out,
            RunInfo(__version__, started, analysis.now, scanners),
            color=use_color(chosen, output) and not discard,
            path=output if chosen is OutputFormat.PROMETHEUS else None,
            spool=DiskSpool,
        )
        if session is not None:
            from scanner.store.recorder import RecordingWriter

            writer = RecordingWriter(writer, session.recorder)
        inventory = Inventory(
            show_all=show_all,
            now=analysis.now,
            last_public_clientauth_day=analysis.policy.last_public_clientauth_day,
            spool=DiskSpool,
            link_pairs=link_pairs(analysis.policy),
        )
        stream = ReportStream(writer, inventory)
        yield stream
        writer.finish(stream.inventory, time.monotonic() - clock)


@contextmanager
def _output_for(chosen: OutputFormat, output: Path | None, discard: bool) -> Iterator[TextIO]:
    if discard:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield sink
    elif chosen is OutputFormat.PROMETHEUS and output is not None:
        # prometheus_client's write_to_textfile writes the file itself, atomically
        try:
            yield io.StringIO()
        except OSError as exc:
            raise ScanFailed(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        with open_output(output) as out:
            yield out


__all__ = ["OutputFormat", "ReportStream", "open_output", "pick_format", "reporting", "use_color"]
