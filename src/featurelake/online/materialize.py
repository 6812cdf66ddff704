"""materialize: the newest row per entity of an online view, from Delta into Redis.

Incremental runs read only the days that Delta commits after the view's watermark
replaced (each featurelake write records its days in the commit's userMetadata); `full`
reads the view's latest-rows table (offline.latest, refreshed at publish) patched with
the days replaced since, or the whole table when there is none. Either way one row per
entity (the greatest (event_timestamp, created_timestamp)) is written, from executors,
through the newer-wins script. The watermark (the Delta version read, the newest event
time online) lives in Redis beside the values it describes and advances only after every
write of the run succeeded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from featurelake.config import FeaturelakeConfig, redact_url
from featurelake.errors import FeaturelakeError
from featurelake.offline.latest import newest_rows, read_latest
from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, PARTITION, committed_version, table_path
from featurelake.offline.training_set import FeatureTableMissingError
from featurelake.offline.writer import days_since, each_day
from featurelake.online.batch_codec import CREATED_US, EVENT_US
from featurelake.online.codec import ViewCodec
from featurelake.online.from_latest import materialize_from_latest
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.redis_server import connect, redis_settings
from featurelake.online.writer import RESULT_SCHEMA, WriteSpec, partition_writer
from featurelake.registry.model import Registry
from featurelake.similarity.files import IndexManifest
from featurelake.similarity.materialize import build_view_indexes
from featurelake.specs.models import FeatureView, duration_seconds

if TYPE_CHECKING:
    import redis
    from pyspark.sql import DataFrame, SparkSession


class MaterializeFailedError(FeaturelakeError):
    template = (
        "materializing {view} failed: {detail}; the watermark did not move, so the next run "
        "redoes the work (values already written are kept: newer-wins makes that safe)"
    )


class ViewNotOnlineError(FeaturelakeError):
    template = "feature view {view} is not online: set `online: true` in its spec, apply, and backfill it"


@dataclass(frozen=True)
class Watermark:
    delta_version: int
    max_event_us: int


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    full: bool
    delta_version: int
    days: list[tuple[date, date]] | None
    entities: int
    written: int
    seconds: float
    source: str = "replaced days"  # what the rows were read from
    indexes: list[IndexManifest] = field(default_factory=list)  # similarity indexes built by this run
    spark: bool = True  # False: read with Arrow in this process (online.from_latest), no Spark job

    @property
    def entities_per_s(self) -> float:
        return self.entities / self.seconds if self.seconds else 0.0


def read_watermark(client: redis.Redis, key: str) -> Watermark | None:
    data = client.hgetall(key)
    if not data:
        return None
    return Watermark(int(data[b"delta_version"]), int(data[b"max_event_us"]))


def newest_per_entity(rows: DataFrame, keys: list[str], view: FeatureView) -> DataFrame:
    """One row per entity: the greatest (event_timestamp, created_timestamp); times as µs."""
    return online_columns(newest_rows(rows, keys), keys, view)


def online_columns(latest: DataFrame, keys: list[str], view: FeatureView) -> DataFrame:
    """What the writer encodes: keys, event and created time as µs, the features (timestamps as µs)."""
    from pyspark.sql import functions as F

    timestamps = {f.name for f in view.features if f.dtype == "timestamp"}
    return latest.select(
        *keys,
        F.unix_micros(EVENT_TIMESTAMP).alias(EVENT_US),
        F.unix_micros(CREATED_TIMESTAMP).alias(CREATED_US),
        *[F.unix_micros(f"`{f.name}`").alias(f.name) if f.name in timestamps else F.col(f"`{f.name}`")
          for f in view.features],
    )  # fmt: skip


def reset_online_view(client: redis.Redis, project: str, view: FeatureView, batch: int = 1_000) -> int:
    """Delete every online value of the view version and its watermark; the number of keys.

    Newer-wins never lets an older row replace a newer value, so values that no longer
    exist in Delta (data rewritten, a day republished without some entity) stay until
    they expire: a reset is how a rebuild makes Redis equal to Delta again."""
    deleted, keys = 0, []
    for key in client.scan_iter(match=f"{view_prefix(project, view.name, view.version)}*", count=10_000):
        keys.append(key)
        if len(keys) >= batch:
            deleted += int(client.unlink(*keys))
            keys = []
    if keys:
        deleted += int(client.unlink(*keys))
    client.delete(watermark_key(project, view.name, view.version))
    return deleted


def materialize_view(
    spark: SparkSession | Callable[[], SparkSession],
    conf: FeaturelakeConfig,
    registry: Registry,
    view_name: str,
    full: bool = False,
    reset: bool = False,
) -> MaterializeResult:
    """Write the newest row per entity of `view_name` into Redis; advance the watermark on success.

    `reset` (implies `full`) first deletes the view's online values: until the rebuild
    finishes, reads of the view return defaults. `spark` may be a function that starts a
    session: it is called only when the run needs Spark (see online.from_latest)."""
    direct = materialize_from_latest(conf, registry, view_name, full, reset)
    if direct is not None:
        return direct
    session = spark() if callable(spark) else spark
    return _materialize_with_spark(session, conf, registry, view_name, full, reset)


def _materialize_with_spark(
    spark: SparkSession, conf: FeaturelakeConfig, registry: Registry, view_name: str, full: bool, reset: bool
) -> MaterializeResult:
    from pyspark.sql import functions as F

    started = time.monotonic()
    view = registry.view(view_name)
    if not view.online:
        raise ViewNotOnlineError(view=view_name)
    path = table_path(conf.lake_root, view)
    committed = committed_version(path)
    if committed is None:
        raise FeatureTableMissingError(view=view_name, version=view.version, path=path)
    client = connect(conf)  # unreachable or refused: a typed error before any work
    mark_key = watermark_key(registry.project, view.name, view.version)
    if reset:
        reset_online_view(client, registry.project, view)
        full = True
    mark = None if full else read_watermark(client, mark_key)
    current = committed
    days = None if mark is None else days_since(spark, path, mark.delta_version)
    keys = registry.join_keys(view_name)
    if mark is not None and days == []:  # nothing new; an index declared since is still built
        built = build_view_indexes(spark, conf, view, keys, current, only_missing=True)
        return MaterializeResult(view_name, False, current, [], 0, 0, time.monotonic() - started, indexes=built)
    if days:
        replaced = each_day(days)
        table = spark.read.format("delta").option("versionAsOf", current).load(path)
        latest = newest_rows(table.where(F.col(PARTITION).isin(*replaced)), keys)
        source = f"{len(replaced)} replaced day(s)"
    else:
        read = read_latest(spark, conf.lake_root, view, keys, current)
        latest, source = read.rows, read.source
    spec = WriteSpec(
        prefix=view_prefix(registry.project, view.name, view.version),
        keys=tuple(keys),
        codec=ViewCodec.for_view(view),
        ttl_ms=duration_seconds(view.ttl) * 1000,
    )
    writes = online_columns(latest, keys, view).mapInArrow(partition_writer(redis_settings(conf), spec), RESULT_SCHEMA)
    try:
        totals = writes.agg(F.sum("rows"), F.sum("written"), F.max("max_event_us")).collect()[0]
    except Exception as exc:  # a task's Redis error arrives wrapped in Spark's
        raise MaterializeFailedError(view=view_name, detail=redis_error(str(exc), conf.redis.url)) from None
    entities, written, newest = (
        int(totals[0] or 0),
        int(totals[1] or 0),
        int(totals[2] if totals[2] is not None else -1),
    )
    # Indexes hold exactly the rows just written (same Delta version); a failed build keeps
    # the watermark where it was, so the next run builds them again.
    built = build_view_indexes(spark, conf, view, keys, current)
    # Only now, with every write acknowledged, does the watermark move.
    previous_newest = mark.max_event_us if mark else -1
    client.hset(mark_key, mapping=watermark_fields(current, max(newest, previous_newest)))  # type: ignore[arg-type]
    read_all = mark is None or days is None
    return MaterializeResult(view_name, read_all, current, days, entities, written, time.monotonic() - started, source,
                             built)  # fmt: skip


def redis_error(message: str, url: str) -> str:
    """The Redis error inside Spark's task failure, naming the server (its password redacted)."""
    found = re.findall(r"redis\.exceptions\.(\w+: [^\n]+)", message)
    if found:
        return f"Redis at {redact_url(url)} failed while writing ({found[-1][:500]})"
    return message.strip().splitlines()[-1][:500]


def watermark_fields(version: int, newest_us: int) -> Mapping[str | bytes, bytes | str | int | float]:
    return {"delta_version": version, "max_event_us": newest_us, "updated_at_us": int(time.time() * 1_000_000)}
