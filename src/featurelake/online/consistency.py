"""consistency: does Redis hold exactly the newest Delta row of each (sampled) entity?

The training-serving skew check: for a sample of entities, the newest row in the view's
Delta table (the one a training set built now would use with an unbounded ttl) is compared
with what Redis serves: same (event_timestamp, created_timestamp), same values. A key can
also be missing because its TTL ran out since the last write: that is reported too.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError
from featurelake.offline.tables import table_path
from featurelake.offline.training_set import FeatureTableMissingError
from featurelake.online.codec import ViewCodec, parse_header
from featurelake.online.keys import entity_key, view_prefix
from featurelake.online.materialize import newest_per_entity
from featurelake.online.redis_server import connect
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView
from featurelake.storage import StorageError, join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
SHOWN = 20
SAMPLE_SEED = 7


@dataclass(frozen=True)
class Mismatch:
    entity: str
    what: str
    offline: Any
    online: Any

    def line(self) -> str:
        return f"  {self.entity}: {self.what}: Delta {self.offline!r}, Redis {self.online!r}"


@dataclass(frozen=True)
class ConsistencyReport:
    view: str
    checked: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        entities = len({m.entity for m in self.mismatches})
        head = f"{self.view}: {self.checked} entities checked, {entities} differ"
        more = len(self.mismatches) - SHOWN
        return "\n".join(
            [head, *(m.line() for m in self.mismatches[:SHOWN])] + ([f"  ... {more} more"] if more > 0 else [])
        )


class InconsistentOnlineStoreError(FeaturelakeError):
    template = "{summary}\nRedis does not serve the newest Delta rows: run `featurelake materialize {view} --full`"


def check_consistency(
    spark: SparkSession, conf: FeaturelakeConfig, registry: Registry, view_name: str, sample: int | None = 1000
) -> ConsistencyReport:
    from delta.tables import DeltaTable

    view = registry.view(view_name)
    path = table_path(conf.lake_root, view)
    if not DeltaTable.isDeltaTable(spark, path):
        raise FeatureTableMissingError(view=view_name, version=view.version, path=path)
    client = connect(conf)
    keys = registry.join_keys(view_name)
    rows = _newest_rows_of_a_sample(spark.read.format("delta").load(path), keys, view, sample)
    prefix = view_prefix(registry.project, view.name, view.version)
    redis_keys = [entity_key(prefix, [r[k] for k in keys]) for r in rows]
    stored = client.mget(redis_keys) if redis_keys else []
    codec = ViewCodec.for_view(view)
    mismatches: list[Mismatch] = []
    for row, key, value in zip(rows, redis_keys, stored, strict=True):
        mismatches += _compare(row, key, value, codec)  # type: ignore[arg-type]
    report = ConsistencyReport(view_name, len(rows), mismatches)
    record_consistency(conf.lake_root, view, report)
    return report


# A sample is drawn from 1/SAMPLE_BUCKETS of the entities (by a hash of their keys) before the
# newest row of each is found, so the check groups a sliver of the table instead of all of it.
SAMPLE_BUCKETS = 64


def _newest_rows_of_a_sample(table: DataFrame, keys: list[str], view: FeatureView, sample: int | None) -> list[Any]:
    """The newest row of `sample` random entities (all of them if None). The bucket is a
    uniform random share of the entities; when it holds fewer than `sample` (a small view),
    the whole table is grouped instead, as it would be without the shortcut."""
    from pyspark.sql import functions as F

    if not sample:
        return newest_per_entity(table, keys, view).collect()
    bucket = F.pmod(F.xxhash64(*[F.col(k) for k in keys], F.lit(SAMPLE_SEED)), F.lit(SAMPLE_BUCKETS)) == 0
    for rows in (table.where(bucket), table):
        chosen = newest_per_entity(rows, keys, view).orderBy(F.rand(seed=SAMPLE_SEED)).limit(sample).collect()
        if len(chosen) >= sample:
            break
    return chosen


def consistency_record_path(lake_root: str, view: FeatureView) -> str:
    return join(lake_root, "_online", "consistency", view.name, f"v{view.version}.json")


def record_consistency(lake_root: str, view: FeatureView, report: ConsistencyReport) -> None:
    """Keep the last check's result in the lake (the catalog shows it); never the values."""
    record = {
        "view": view.name,
        "version": view.version,
        "checked": report.checked,
        "differ": len({m.entity for m in report.mismatches}),
        "consistent": report.consistent,
        "checked_at_us": int(time.time() * 1_000_000),
    }
    path = consistency_record_path(lake_root, view)
    try:  # the check's answer does not depend on being able to write the lake
        storage_for(path).write(path, json.dumps(record, sort_keys=True).encode())
    except (StorageError, OSError) as exc:
        log.warning("consistency result of %s not recorded at %s (%s)", view.name, path, exc)


def _compare(row: Any, key: str, value: bytes | None, codec: ViewCodec) -> list[Mismatch]:
    times = (row["_event_us"], row["_created_us"])
    if value is None:
        return [Mismatch(key, "missing in Redis", times, None)]
    if parse_header(value) != times:
        return [Mismatch(key, "(event_timestamp, created_timestamp) in µs", times, parse_header(value))]
    online = codec.decode(value)
    return [
        Mismatch(key, name, row[name], got)
        for name, got in zip(codec.features, online, strict=True)
        if not _same(row[name], got)
    ]


def _same(offline: Any, online: Any) -> bool:
    if offline is None or online is None:
        return offline is None and online is None
    if isinstance(online, np.ndarray):
        return bool(np.array_equal(np.asarray(offline, dtype=np.float32), online))
    if isinstance(offline, float) and isinstance(online, float):
        return (math.isnan(offline) and math.isnan(online)) or math.isclose(offline, online, rel_tol=1e-12)
    return bool(offline == online)
