"""Writing rows into Redis from Spark executors (never through the driver).

`partition_writer(settings)` returns the function given to `DataFrame.mapInArrow`: each
task opens its own connection, encodes its rows, and sends them in pipelined EVALSHA
calls of the newer-wins script (`BATCH_KEYS` keys per call, `PIPELINE_CALLS` calls per
round trip). It yields one row per task: rows seen, values written, newest event time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurelake.online.codec import ViewCodec
from featurelake.online.keys import entity_key
from featurelake.online.newer_wins import NEWER_WINS
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

        client = settings.client()
        script = client.register_script(NEWER_WINS)
        pipe = client.pipeline(transaction=False)
        rows = written = calls = 0
        newest = -1
        try:
            for batch in batches:
                keys, values, batch_newest = _encode(batch, spec)
                newest = max(newest, batch_newest)
                rows += len(keys)
                for start in range(0, len(keys), BATCH_KEYS):
                    script(
                        keys=keys[start : start + BATCH_KEYS],
                        args=[spec.ttl_ms, *values[start : start + BATCH_KEYS]],
                        client=pipe,
                    )
                    calls += 1
                    if calls % PIPELINE_CALLS == 0:
                        written += sum(pipe.execute())
            written += sum(pipe.execute())
        finally:
            client.close()
        yield pa.RecordBatch.from_pydict({"rows": [rows], "written": [written], "max_event_us": [newest]})

    return write


def _encode(batch: pa.RecordBatch, spec: WriteSpec) -> tuple[list[str], list[bytes], int]:
    columns = batch.to_pydict()
    key_columns = [columns[k] for k in spec.keys]
    events, created = columns["_event_us"], columns["_created_us"]
    features = [columns[name] for name in spec.codec.features]
    keys = [entity_key(spec.prefix, values) for values in zip(*key_columns, strict=True)]
    encode = spec.codec.encode
    values = [encode(events[i], created[i], [f[i] for f in features]) for i in range(len(keys))]
    return keys, values, max(events, default=-1)
