"""Between worker processes and their parent: frames over the pipes, and the ordered merge of their reports.

A frame is a 4-byte big-endian length and a pickle. Pickle is safe here because both ends are
this program, started by itself, over a private pipe.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from typing import Any

import trio

from scanner.model import EndpointReport, Status
from scanner.report.sink import HostPackage

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
READ_CHUNK = 256 * 1024


# An endpoint's report; or only its status, where the output does not list it (a closed port of
# a range): that is counted and needs no judging; or a whole host, packaged by a worker (in the
# place of the host's first endpoint; its other endpoints then have no item).
Outcome = EndpointReport | Status | HostPackage
Item = tuple[int, tuple[Outcome, ...]]  # an endpoint's place in the sweep, and its outcomes


class WorkerFailed(Exception):
    """A worker process could not run or died; the message is one line."""


def encode_frame(kind: str, value: Any) -> bytes:
    payload = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(payload)) + payload


class FrameReader:
    """Frames out of a byte stream; ``None`` at a clean end of the stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            chunk = await self._stream.receive_some(READ_CHUNK)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def next(self) -> tuple[str, Any] | None:
        if not await self._fill(FRAME_HEADER.size):
            if self._buffer:
                raise WorkerFailed("a worker's output ended inside a frame")
            return None
        (length,) = FRAME_HEADER.unpack_from(self._buffer)
        if length > MAX_FRAME_BYTES:
            raise WorkerFailed(f"a worker sent a frame of {length} bytes")
        if not await self._fill(FRAME_HEADER.size + length):
            raise WorkerFailed("a worker's output ended inside a frame")
        payload = bytes(self._buffer[FRAME_HEADER.size : FRAME_HEADER.size + length])
        del self._buffer[: FRAME_HEADER.size + length]
        frame: tuple[str, Any] = pickle.loads(payload)
        return frame


async def merge(
    receivers: list[trio.MemoryReceiveChannel[list[Item]]], record: Callable[[Outcome], None]
) -> None:
    """K-way merge of ordered streams: pass on the smallest number once every stream shows its next."""
    heads: list[list[Item]] = [[] for _ in receivers]  # reversed batches: pop() gives the next
    live = list(range(len(receivers)))
    while live:
        for index in list(live):
            if not heads[index]:
                try:
                    batch = await receivers[index].receive()
                except trio.EndOfChannel:
                    live.remove(index)
                    continue
                heads[index] = batch[::-1]
        if not live:
            return
        # Pass on everything below the smallest number another stream is waiting to give.
        index = min(live, key=lambda i: heads[i][-1][0])
        others = [heads[i][-1][0] for i in live if i != index]
        limit = min(others) if others else None
        head = heads[index]
        while head and (limit is None or head[-1][0] < limit):
            for report in head.pop()[1]:
                record(report)
