"""materialize without Spark, when the view's latest rows already are the answer.

A full materialization of a view whose latest-rows snapshot (offline.latest) is of the
table's current Delta version needs no grouping and no Delta planning: the snapshot holds
exactly one row per entity, the newest. This path reads its parquet files with Arrow in
the calling process and writes them through the same batch encoder and newer-wins
script as the Spark executors do, so Redis ends up byte for byte the same. It saves
what a fresh process pays for a JVM and a SparkSession, which is more than the writes of
1M entities cost (benchmarks/README.md).

An incremental run with nothing committed since its watermark is answered here too, and a
view never backfilled fails here, before any JVM starts. Anything else goes to Spark
(online.materialize): days to read or patch, a missing, stale or foreign snapshot, and
views with similarity indexes (built by Spark jobs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from featurelake.config import FeaturelakeConfig
from featurelake.offline.latest import latest_columns, stored_snapshot_files
from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, committed_version, table_path
from featurelake.online.batch_codec import CREATED_US, EVENT_US
from featurelake.online.codec import ViewCodec
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.redis_server import connect, redis_settings
from featurelake.online.writer import WriteSpec, partition_writer
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView, duration_seconds
from featurelake.storage import storage_for

if TYPE_CHECKING:
    import pyarrow as pa

    from featurelake.online.materialize import MaterializeResult

READ_BATCH_ROWS = 65_536  # bounds memory for embedding views; big enough that encoding stays vectorised


def materialize_from_latest(
    conf: FeaturelakeConfig, registry: Registry, view_name: str, full: bool, reset: bool
) -> MaterializeResult | None:
    """Materialize `view_name` from its latest rows without Spark; None when this path does not apply."""
    from featurelake.online.materialize import (
        MaterializeResult,
        ViewNotOnlineError,
        read_watermark,
        reset_online_view,
        watermark_fields,
    )

    started = time.monotonic()
    view = registry.view(view_name)
    if not view.online:
        raise ViewNotOnlineError(view=view_name)
    if any(f.index is not None for f in view.features):
        return None
    path = table_path(conf.lake_root, view)
    current = committed_version(path)
    if current is None:
        from featurelake.offline.training_set import FeatureTableMissingError

        raise FeatureTableMissingError(view=view_name, version=view.version, path=path)
    client = connect(conf)
    mark_key = watermark_key(registry.project, view.name, view.version)
    mark = None if full or reset else read_watermark(client, mark_key)
    if mark is not None:
        if mark.delta_version != current:
            return None
        return MaterializeResult(view_name, False, current, [], 0, 0, time.monotonic() - started, spark=False)
    keys = registry.join_keys(view_name)
    files = stored_snapshot_files(conf.lake_root, view, current)
    if files is None or not _has_columns(files[0], latest_columns(view, keys)):
        return None
    if reset:
        reset_online_view(client, registry.project, view)
    spec = WriteSpec(
        prefix=view_prefix(registry.project, view.name, view.version),
        keys=tuple(keys),
        codec=ViewCodec.for_view(view),
        ttl_ms=duration_seconds(view.ttl) * 1000,
    )
    entities, written, newest = write_files(files, conf, spec, view)
    client.hset(mark_key, mapping=watermark_fields(current, newest))  # type: ignore[arg-type]
    return MaterializeResult(view_name, True, current, None, entities, written, time.monotonic() - started,
                             "latest rows", spark=False)  # fmt: skip


def write_files(files: list[str], conf: FeaturelakeConfig, spec: WriteSpec, view: FeatureView) -> tuple[int, int, int]:
    """Write every row of the snapshot files, one writer (connection) per thread; (rows, written, newest µs).

    Threads, not processes: Arrow's kernels and the socket waits release the GIL, and two
    writers keep Redis busy while one encodes."""
    import redis

    from featurelake.online.materialize import MaterializeFailedError, redis_error

    settings = redis_settings(conf)
    workers = max(1, min(len(files), _cores()))
    shares = [files[i::workers] for i in range(workers)]

    def run(share: list[str]) -> tuple[int, int, int]:
        result = next(partition_writer(settings, spec)(_online_batches(share, list(spec.keys), view)))
        return int(result.column(0)[0].as_py()), int(result.column(1)[0].as_py()), int(result.column(2)[0].as_py())

    try:
        with ThreadPoolExecutor(workers) as pool:
            totals = list(pool.map(run, shares))
    except redis.exceptions.RedisError as exc:
        detail = redis_error(f"redis.exceptions.{type(exc).__name__}: {exc}", conf.redis.url)
        raise MaterializeFailedError(view=view.name, detail=detail) from None
    return sum(t[0] for t in totals), sum(t[1] for t in totals), max(t[2] for t in totals)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _parquet(location: str) -> pa.parquet.ParquetFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    storage = storage_for(location)
    local = storage.local_path(location)
    source = str(local) if local is not None else pa.BufferReader(storage.read(location))
    # Spark writes timestamps as INT96 by default; as µs they are exactly Spark's values.
    return pq.ParquetFile(source, coerce_int96_timestamp_unit="us")


def _has_columns(location: str, columns: set[str]) -> bool:
    return set(_parquet(location).schema_arrow.names) == columns


def _online_batches(files: list[str], keys: list[str], view: FeatureView) -> Iterator[pa.RecordBatch]:
    """The columns the writer encodes (online.materialize.online_columns, in Arrow)."""
    import pyarrow as pa

    timestamps = {f.name for f in view.features if f.dtype == "timestamp"}
    names = [*keys, EVENT_US, CREATED_US, *(f.name for f in view.features)]
    for location in files:
        for batch in _parquet(location).iter_batches(READ_BATCH_ROWS):
            columns = [batch.column(k) for k in keys]
            columns += [_micros(batch.column(EVENT_TIMESTAMP)), _micros(batch.column(CREATED_TIMESTAMP))]
            columns += [_micros(batch.column(f.name)) if f.name in timestamps else batch.column(f.name)
                        for f in view.features]  # fmt: skip
            yield pa.RecordBatch.from_arrays(columns, names=names)


def _micros(column: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.cast(column, pa.timestamp("us", tz=column.type.tz)), pa.int64())
