"""Progress of a sweep on stderr: probes done/total, live endpoints, rate, ETA.

Shown only on a terminal (a cron job's log should not fill with carriage returns) and never
with ``--quiet``. The line is rewritten in place at most a few times a second, so a fast
sweep spends its time probing, not printing. The text is a pure function of the counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import trio

from scanner.model import EndpointReport, Status
from scanner.report.safety import visible

REFRESH_SECONDS = 0.25
FIRST_DRAW_SECONDS = 1.0  # a sweep that ends sooner needs no progress line; a rate needs a second


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(done: int, total: int, live: int, elapsed: float, approximate: bool = False) -> str:
    """``1234/65536 probes (1.9%), 12 live, 850/s, ETA 1m15s``; ``~`` marks an estimated total."""
    total = max(total, done)
    mark = "~" if approximate else ""
    share = f" ({100 * done / total:.1f}%)" if total else ""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f", ETA {_duration((total - done) / rate)}" if rate > 0 and done < total else ""
    return f"{done}/{mark}{total} probes{share}, {live} live, {rate:.0f}/s{eta}"


class Progress:
    """Counts reports as they are recorded and redraws one status line."""

    def __init__(
        self,
        out: TextIO,
        total: int,
        *,
        approximate: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out, self.total, self.approximate, self.clock = out, total, approximate, clock
        self.done = 0
        self.live = 0
        self.started = clock()
        self._drawn_at = self.started + FIRST_DRAW_SECONDS - REFRESH_SECONDS
        self._width = 0

    def update(self, report: EndpointReport) -> None:
        self.done += 1
        observation = report.observation
        if observation.connected or observation.status is Status.OK:
            self.live += 1
        self.redraw()

    def add(self, probes: int, live: int) -> None:
        """Several probes done at once (a host a worker packaged), ``live`` of them found listening."""
        self.done += probes
        self.live += live
        self.redraw()

    def advance(self) -> None:
        """One probe done that found nothing listening (counted, not judged)."""
        self.done += 1
        self.redraw()

    def redraw(self) -> None:
        """Draw the line if it is due (also while nothing finishes: the rate and ETA move on)."""
        now = self.clock()
        if now - self._drawn_at >= REFRESH_SECONDS:
            self._drawn_at = now
            self._draw(progress_line(self.done, self.total, self.live, now - self.started, self.approximate))

    def _draw(self, text: str) -> None:
        line = visible(f"ekuscan: {text}")  # counters only, but every line for people takes this one rule
        self.out.write("\r" + line.ljust(self._width))
        self.out.flush()
        self._width = len(line)

    def close(self) -> None:
        """Erase the line, so what follows on the terminal starts clean."""
        if self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self.out.flush()
            self._width = 0


async def keep_drawing(progress: Progress) -> None:
    """Redraw a few times a second until cancelled."""
    while True:
        await trio.sleep(REFRESH_SECONDS)
        progress.redraw()
