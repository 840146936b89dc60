"""Which share of a split a host belongs to (``--shard K/N``), the same on every machine and run (pure)."""

from __future__ import annotations

import zlib

SHARD_SALT = b"shard:"
_FIBONACCI_64 = 0x9E3779B97F4A7C15
_MASK_64 = 2**64 - 1


def share_of(host: str, count: int, salt: bytes = b"") -> int:
    """Which of ``count`` shares a host belongs to, the same on every machine and every run.

    CRC-32 of the host text, not ``hash()``, whose value changes with each interpreter start.
    Whole hosts go to one share, so a host's ports are judged together and a per-host
    connection cap holds within one process. ``salt`` makes independent splits (shards of a
    list, then workers of a shard) that do not line up with each other. CRC-32 is linear, so
    neighbouring addresses differ in few bits; a Fibonacci multiply spreads them over the shares.
    """
    mixed = (zlib.crc32(salt + host.encode()) * _FIBONACCI_64) & _MASK_64
    return (mixed >> 32) % count
