"""Daily windowed aggregations as window functions over entity-partitioned data.

For each entity and day D, with m = the midnight (UTC) that ends D, every aggregate
covers the events with time in [m - window, m). Rows are produced for each day an entity
has events in [m - largest window - 1 day, m): the extra day is the *decay* row whose
aggregates are 0/null, so a point-in-time read never sees an old non-zero value once all
events have left the window (and beyond that, no row at all: the join then returns the
feature default, 0 for counts).

How: events are pre-aggregated into buckets of g seconds (the gcd of the windows and a
day, so every bucket is entirely inside or outside each window). Per entity, one *probe*
row is added at each output day's m; a range frame `[m - W, m - g]` over the bucket start
then covers exactly the buckets inside [m - W, m). One shuffle by entity, one sort.
"""

from __future__ import annotations

import math
from datetime import date
from functools import reduce
from typing import TYPE_CHECKING

from featurelake.compute.source import feature_value_column
from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, PARTITION, spark_type
from featurelake.specs.models import Feature, duration_seconds

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.window import WindowSpec

DAY_S = 86_400
_BUCKET, _PROBE, _DAY = "_b", "_probe", "_day"


def window_seconds(feature: Feature) -> int:
    assert feature.aggregation is not None
    return duration_seconds(feature.aggregation.window)


def bucket_seconds(features: list[Feature]) -> int:
    """The largest bucket that every window (and the day) is a whole multiple of."""
    return reduce(math.gcd, [window_seconds(f) for f in features], DAY_S)


def _partials(i: int, feature: Feature) -> list[Column]:
    """Per-bucket partial aggregates of feature i, merged again over the window."""
    from pyspark.sql import functions as F

    assert feature.aggregation is not None
    value = F.col(feature_value_column(i))
    function = feature.aggregation.function
    if function == "count":
        return [F.count(value).alias(f"_c{i}")]
    if function in {"sum", "avg"}:
        return [F.sum(value).alias(f"_s{i}"), F.count(value).alias(f"_c{i}")]
    if function in {"min", "max"}:
        return [getattr(F, function)(value).alias(f"_{function}{i}")]
    # last: the latest non-null value; a tie on time goes to the greatest value
    return [F.max(F.when(value.isNotNull(), F.struct(F.col("_ts").alias("t"), value.alias("v")))).alias(f"_l{i}")]


def bucket_events(events: DataFrame, keys: list[str], features: list[Feature]) -> DataFrame:
    """Events -> one row per (entity, bucket) with partial aggregates, plus check counters."""
    from pyspark.sql import functions as F

    g = bucket_seconds(features)
    bucket = (F.floor(F.unix_micros(F.col("_ts")) / (g * 1_000_000)) * g).cast("long")
    partials = [column for i, f in enumerate(features) for column in _partials(i, f)]
    return events.groupBy(*keys, bucket.alias(_BUCKET)).agg(
        *partials, F.count(F.lit(1)).alias("_n"), F.sum(F.col("_ts_raw_bad").cast("int")).alias("_bad_ts")
    )


def _output_days(buckets: DataFrame, keys: list[str], reach_days: int, start: date, end: date) -> DataFrame:
    """(entity, day) pairs to emit: islands of activity widened by the largest window + decay."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    days = buckets.select(*keys, F.floor(F.col(_BUCKET) / DAY_S).cast("long").alias(_DAY)).distinct()
    by_entity = Window.partitionBy(*keys).orderBy(_DAY)
    gap = F.col(_DAY) - F.lag(_DAY).over(by_entity)
    islands = days.withColumn("_new", F.when(gap.isNull() | (gap > reach_days + 1), 1).otherwise(0)).withColumn(
        "_island", F.sum("_new").over(by_entity.rowsBetween(Window.unboundedPreceding, 0))
    )
    spans = islands.groupBy(*keys, "_island").agg(
        F.min(_DAY).alias("_first"), (F.max(_DAY) + reach_days).alias("_last")
    )
    lo, hi = (start - date(1970, 1, 1)).days, (end - date(1970, 1, 1)).days
    spans = spans.select(*keys, F.greatest("_first", F.lit(lo)).alias("_a"), F.least("_last", F.lit(hi)).alias("_z"))
    return spans.where(F.col("_a") <= F.col("_z")).select(*keys, F.explode(F.sequence("_a", "_z")).alias(_DAY))


def _merged(i: int, feature: Feature, frame: WindowSpec) -> Column:
    from pyspark.sql import functions as F

    assert feature.aggregation is not None
    function = feature.aggregation.function
    if function == "count":
        result = F.coalesce(F.sum(f"_c{i}").over(frame), F.lit(0))
    elif function == "sum":
        # Like count: "spend in the last 30 days" of an entity with no orders is 0, not unknown.
        result = F.coalesce(F.sum(f"_s{i}").over(frame), F.lit(0))
    elif function == "avg":
        total, n = F.sum(f"_s{i}").over(frame), F.sum(f"_c{i}").over(frame)
        result = F.when(n > 0, total / n)
    elif function in {"min", "max"}:
        result = getattr(F, function)(f"_{function}{i}").over(frame)
    else:
        result = F.max(f"_l{i}").over(frame)["v"]
    return result.cast(spark_type(feature)).alias(feature.name)


def daily_aggregates(buckets: DataFrame, keys: list[str], features: list[Feature], start: date, end: date) -> DataFrame:
    """Bucketed partials -> one row per entity per active day D in [start, end]."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    g = bucket_seconds(features)
    reach_days = math.ceil(max(window_seconds(f) for f in features) / DAY_S)
    probes = _output_days(buckets, keys, reach_days, start, end).select(
        *keys, ((F.col(_DAY) + 1) * DAY_S).alias(_BUCKET), F.lit(True).alias(_PROBE)
    )
    rows = buckets.drop("_bad_ts", "_n").withColumn(_PROBE, F.lit(False)).unionByName(probes, allowMissingColumns=True)
    by_entity = Window.partitionBy(*keys).orderBy(_BUCKET)
    merged = [_merged(i, f, by_entity.rangeBetween(-window_seconds(f), -g)) for i, f in enumerate(features)]
    m = F.timestamp_seconds(F.col(_BUCKET))
    return (
        rows.select(*keys, _BUCKET, _PROBE, *merged)
        .where(F.col(_PROBE))
        .select(
            *keys,
            m.alias(EVENT_TIMESTAMP),
            m.alias(CREATED_TIMESTAMP),  # deterministic: reruns write identical rows
            *[f.name for f in features],
            F.date_sub(F.to_date(m), 1).alias(PARTITION),
        )
    )
