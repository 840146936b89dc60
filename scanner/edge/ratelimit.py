"""``--rate``: new connections per second, as a token bucket (the arithmetic is pure).

The bucket is kept as one number, the time at which the next token is due (the "theoretical
arrival time" of the generic cell rate algorithm): a caller reserves the next slot and sleeps
until it. Reservations are handed out in call order, so waiting tasks are served first come,
first served, and no task polls.
"""

from __future__ import annotations

import trio


class TokenBucket:
    """At most ``burst`` connections at once after a pause, ``rate`` per second over time."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.burst = burst
        self._due: float | None = None  # when the next token is due

    def reserve(self, now: float) -> float:
        """Take the next token; returns how long to wait before using it."""
        due = now if self._due is None else max(self._due, now)
        allowed_at = due - (self.burst - 1) * self.interval
        self._due = due + self.interval
        return max(0.0, allowed_at - now)

    async def take(self) -> None:
        delay = self.reserve(trio.current_time())
        if delay > 0:
            await trio.sleep(delay)
