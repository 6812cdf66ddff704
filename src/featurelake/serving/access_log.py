"""Access lines, one JSON object per request, on stderr: method, path, status, ms, entities,
client. Never headers or bodies (tokens live in headers).

Lines are buffered and handed every 0.2 s (and at shutdown) to a writer thread: a write per
request cost the server 18% of its throughput, and a write on the event loop would stop
serving whenever the reader of stderr (a log collector, a pipe) falls behind. Writes are cut
at line ends into pieces of at most PIPE_BUF bytes, which the kernel keeps whole, so the
lines of several workers sharing one pipe never interleave. If the writer is that far behind
(MAX_QUEUED chunks), lines are dropped and counted rather than stalling requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import select
import sys
import threading
from typing import Any

FLUSH_EVERY_S = 0.2
MAX_QUEUED = 1024
CHUNK = select.PIPE_BUF


class AccessLog:
    def __init__(self, enabled: bool, fd: int | None = None) -> None:
        self.enabled = enabled
        self.dropped = 0
        self._fd = sys.stderr.fileno() if fd is None else fd
        self._lines: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._chunks: queue.Queue[bytes | None] = queue.Queue(MAX_QUEUED)
        self._writer = threading.Thread(target=self._write_chunks, name="access-log", daemon=True)

    def record(self, method: str, path: str, status: int, seconds: float, entities: int, client: Any) -> None:
        if self.enabled:
            line = {"method": method, "path": path, "status": status, "ms": round(seconds * 1000, 3),
                    "entities": entities, "client": client}  # fmt: skip
            self._lines.append(json.dumps(line))

    def start(self) -> None:
        if self.enabled:
            self._writer.start()
            self._task = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        for chunk, count in _chunks(lines):
            try:
                self._chunks.put_nowait(chunk)
            except queue.Full:
                self.dropped += count

    def _write_chunks(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            with contextlib.suppress(OSError):  # a closed stderr must not take serving down
                while chunk:
                    chunk = chunk[os.write(self._fd, chunk) :]

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.flush()
        await asyncio.to_thread(self._chunks.put, None)
        await asyncio.to_thread(self._writer.join, 10)


def _chunks(lines: list[str]) -> list[tuple[bytes, int]]:
    """Newline-ended pieces of at most CHUNK bytes (a longer single line goes alone)."""
    pieces: list[tuple[bytes, int]] = []
    current, count = bytearray(), 0
    for line in lines:
        data = line.encode() + b"\n"
        if current and len(current) + len(data) > CHUNK:
            pieces.append((bytes(current), count))
            current, count = bytearray(), 0
        current += data
        count += 1
    if current:
        pieces.append((bytes(current), count))
    return pieces
