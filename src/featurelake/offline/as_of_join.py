"""Point-in-time join (Feast semantics) with window functions over entity-partitioned data.

For each label row and each requested view: the feature row of the label's entity with
the greatest `event_timestamp` such that `event_timestamp <= label time` and
`event_timestamp >= label time - ttl`; ties on `event_timestamp` go to the greatest
`created_timestamp`. No such row: the features are null (then the feature's default).

How: per entity (join keys), label rows and the feature rows of every view of that entity
are unioned, sorted by (time, feature rows before labels, created), and each label takes
`last(feature row, ignorenulls)` over the rows before it: one shuffle and one sort per
entity for all its views; nothing is joined labels x feature rows. Label columns ride
along in a struct, so duplicates stay and nothing has to be joined back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from featurelake.spark.times import type_name
from featurelake.specs.models import Feature, FeatureView, duration_seconds

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

LABEL_TS = "_fl_label_ts"
_T, _KIND, _CREATED, _LABEL = "_fl_t", "_fl_kind", "_fl_created", "_fl_label"


@dataclass(frozen=True)
class ViewRequest:
    """The features wanted from one view, its rows, and the output name of each feature."""

    view: FeatureView
    keys: tuple[str, ...]
    features: tuple[Feature, ...]
    output_names: tuple[str, ...]
    rows: DataFrame  # the view's feature table (keys, event_timestamp, created_timestamp, features)

    @property
    def ttl_seconds(self) -> int:
        return duration_seconds(self.view.ttl)


def default_value(feature: Feature) -> object:
    """What a read returns when no row matches: the spec's default; 0 for counts and sums."""
    if feature.default is not None:
        return feature.default
    if feature.aggregation and feature.aggregation.function in {"count", "sum"}:
        return 0
    return None


def _with_default(value: Column, feature: Feature) -> Column:
    from pyspark.sql import functions as F

    from featurelake.offline.tables import spark_type

    default = default_value(feature)
    if default is None:
        return value
    literal = F.array(*[F.lit(v) for v in default]) if isinstance(default, list) else F.lit(default)
    return F.coalesce(value, literal.cast(spark_type(feature)))


def prune_rows(request: ViewRequest, lo_us: int, hi_us: int) -> DataFrame:
    """Only the rows any label can see: [earliest label - ttl, latest label], in epoch
    microseconds so labels at the edges of the timestamp range (year 1, year 9999) need no
    Python datetime arithmetic; the bounds fold to literals, so file skipping still applies."""
    from pyspark.sql import functions as F

    lower = lo_us - request.ttl_seconds * 1_000_000
    ts = F.col(EVENT_TIMESTAMP)
    columns = [*request.keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *[f.name for f in request.features]]
    bounds = (ts >= F.timestamp_micros(F.lit(lower))) & (ts <= F.timestamp_micros(F.lit(hi_us)))
    return request.rows.where(bounds).select(*columns)


_INTEGRAL = {"ByteType", "ShortType", "IntegerType", "LongType"}
_LOW_30_BITS = (1 << 30) - 1  # minutes since 1970 fit until the year 4011


def _in_entity_and_minute_order(union: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """The rows spread by entity as the window needs them and, when the entity is one
    integral column, each partition put roughly in the window's order first.

    The window sorts by (key, time, kind, created). Spark's sort compares an 8-byte prefix of
    the first column and, on a tie, both whole rows; every row of an entity ties on the key,
    and those comparisons read rows scattered in memory: a third of the join's task time on
    1M labels (benchmarks/README.md). Sorting first on one long, the key shifted left by 30
    bits with the minute in the low bits, is a radix sort; the window's sort then finds its
    input in order and makes one pass over it. The long only orders the input: a key beyond
    +-2^33, whose shift wraps, makes this first sort less useful, never the result different,
    because the window still sorts by the exact columns."""
    from pyspark.sql import functions as F

    if len(keys) != 1 or type_name(union, keys[0]) not in _INTEGRAL:
        return union
    minute = F.floor(F.unix_seconds(F.col(_T)) / 60).bitwiseAND(_LOW_30_BITS)  # bit operations never overflow
    packed = F.shiftleft(F.col(keys[0]).cast("long"), 30).bitwiseOR(minute)
    return union.repartition(*keys).sortWithinPartitions(packed)


def _join_entity(labels: DataFrame, keys: tuple[str, ...], requests: list[ViewRequest]) -> DataFrame:
    """One pass for all views of one entity: labels keep every column, features are added."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    label_columns = labels.columns
    parts = [
        labels.select(
            *[F.col(k) for k in keys],
            F.col(LABEL_TS).alias(_T),
            F.lit(1).alias(_KIND),
            F.struct(*[F.col(c) for c in label_columns]).alias(_LABEL),
        )
    ]
    for j, request in enumerate(requests):
        payload = F.struct(F.col(EVENT_TIMESTAMP).alias("ts"), *[F.col(f.name) for f in request.features])
        parts.append(
            request.rows.select(
                *[F.col(k) for k in keys],
                F.col(EVENT_TIMESTAMP).alias(_T),
                F.lit(0).alias(_KIND),
                F.col(CREATED_TIMESTAMP).alias(_CREATED),
                payload.alias(f"_fl_v{j}"),
            )
        )
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part, allowMissingColumns=True)
    union = _in_entity_and_minute_order(union, keys)
    before = Window.partitionBy(*keys).orderBy(_T, _KIND, _CREATED).rowsBetween(Window.unboundedPreceding, 0)
    latest = [F.last(f"_fl_v{j}", ignorenulls=True).over(before).alias(f"_fl_v{j}") for j in range(len(requests))]
    joined = union.select(_KIND, _T, _LABEL, *latest).where(F.col(_KIND) == 1)
    outputs = [F.col(f"{_LABEL}.{c}").alias(c) for c in label_columns]
    for j, request in enumerate(requests):
        row = F.col(f"_fl_v{j}")
        fresh = row["ts"] >= F.col(_T) - F.expr(f"INTERVAL {request.ttl_seconds} SECONDS")
        for feature, name in zip(request.features, request.output_names, strict=True):
            outputs.append(_with_default(F.when(fresh, row[feature.name]), feature).alias(name))
    return joined.select(*outputs)


def as_of_join(labels: DataFrame, requests: list[ViewRequest]) -> DataFrame:
    """Labels (with `_fl_label_ts`, a UTC timestamp) + the requested features, one row per label row."""
    by_entity: dict[tuple[str, ...], list[ViewRequest]] = {}
    for request in requests:
        by_entity.setdefault(request.keys, []).append(request)
    result = labels
    for keys, group in by_entity.items():
        result = _join_entity(result, keys, group)
    return result.drop(LABEL_TS)
