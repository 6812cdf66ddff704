"""Writing rows into Redis from Spark executors (never through the driver).

`partition_writer(settings)` returns the function given to `DataFrame.mapInArrow`: each
task opens its own connection, encodes its rows a whole Arrow batch at a time
(`batch_codec`), and sends them in pipelined EVALSHA calls of the newer-wins script
(`BATCH_KEYS` keys per call, `PIPELINE_CALLS` calls per round trip), choosing for each
round trip the script that suits what the previous one found (mostly new keys or mostly
existing ones, see newer_wins). It yields one row per task: rows seen, values written,
newest event time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurelake.online.batch_codec import EVENT_US, encode_batch
from featurelake.online.codec import ViewCodec
from featurelake.online.newer_wins import NEWER_WINS, NEWER_WINS_NEW_KEYS_FIRST
from featurelake.online.redis_server import RedisSettings

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_KEYS = 500
PIPELINE_CALLS = 8
RESULT_SCHEMA = "rows long, written long, max_event_us long"


@dataclass(frozen=True)
class WriteSpec:
    prefix: str
    keys: tuple[str, ...]
    codec: ViewCodec
    ttl_ms: int


def partition_writer(
    settings: RedisSettings, spec: WriteSpec
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc

        client = settings.client()
        existing, new_first = client.script_load(NEWER_WINS), client.script_load(NEWER_WINS_NEW_KEYS_FIRST)
        pipe = client.pipeline(transaction=False)
        rows = written = calls = 0
        newest = -1
        sha = existing

        def flush() -> str:
            nonlocal written
            replies = pipe.execute()
            written += sum(int(r[0]) for r in replies)
            existed, sent = sum(int(r[1]) for r in replies), sum(pipe_sizes)
            pipe_sizes.clear()
            return existing if existed * 2 >= sent else new_first

        pipe_sizes: list[int] = []
        try:
            for batch in batches:
                if not batch.num_rows:
                    continue
                keys, values = encode_batch(batch, spec.prefix, spec.keys, spec.codec)
                newest = max(newest, int(pc.max(batch.column(EVENT_US)).as_py()))
                rows += len(keys)
                for start in range(0, len(keys), BATCH_KEYS):
                    chunk = keys[start : start + BATCH_KEYS]
                    pipe.evalsha(sha, len(chunk), *chunk, spec.ttl_ms, *values[start : start + BATCH_KEYS])
                    pipe_sizes.append(len(chunk))
                    calls += 1
                    if calls % PIPELINE_CALLS == 0:
                        sha = flush()
            if pipe_sizes:
                flush()
        finally:
            client.close()
        yield pa.RecordBatch.from_pydict({"rows": [rows], "written": [written], "max_event_us": [newest]})

    return write
