"""The MGETs of requests a worker has in hand at the same moment, sent as one pipeline.

Under load, many requests reach the same event-loop turn; sending each MGET on its own costs a
write and a read system call per request (a fifth of a request's CPU in the profile). Requests
queued in one turn are flushed together in the next: one pipeline, one write, each request
still gets exactly its own MGET's answer. A request alone is sent alone, without waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any


class MgetBatcher:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._pending: list[tuple[list[str], asyncio.Future[list[Any]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def mget(self, keys: list[str]) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((keys, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)  # a reference until it ends: the loop keeps only weak ones
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[list[str], asyncio.Future[list[Any]]]]) -> None:
        try:
            if len(batch) == 1:
                results = [await self._client.mget(batch[0][0])]
            else:
                pipe = self._client.pipeline(transaction=False)
                for keys, _ in batch:
                    pipe.mget(keys)
                results = await pipe.execute()
        except Exception as exc:  # every request of the batch gets Redis's failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are the requests waiting on it
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), values in zip(batch, results, strict=True):
            if not future.done():  # a request that timed out has stopped waiting
                future.set_result(values)
