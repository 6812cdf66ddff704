"""backfill / run: compute a view for a range of days and replace them in its Delta table.

The source is read once per call, for exactly the time range the days need (their largest
window, for aggregated views), so a one-day `run` costs the same whatever the history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.compute.aggregate import DAY_S, bucket_events, daily_aggregates, window_seconds
from featurelake.compute.errors import (
    DateRangeError,
    EmbeddingDimensionError,
    NullEntityKeysError,
    UnparsableTimestampsError,
)
from featurelake.compute.progress import spark_progress
from featurelake.compute.publish import publish_rows
from featurelake.compute.rows import feature_rows, without_exact_duplicates
from featurelake.compute.source import feature_value_column, read_events
from featurelake.config import LeaseConf
from featurelake.offline.tables import EVENT_TIMESTAMP, PARTITION, table_path
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView
from featurelake.validation.context import ValidationPaths
from featurelake.validation.gate import ValidationOutcome, run_name
from featurelake.validation.preload import start_imports
from featurelake.validation.stats import FeatureStats, stats_aggregations, stats_of_days

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


@dataclass(frozen=True)
class BackfillResult:
    view: str
    view_version: int
    table: str
    start: date
    end: date
    source_events: int
    rows_written: int
    delta_version: int
    seconds: float
    validation: ValidationOutcome

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DateRangeError(problem=f"{what} {text!r} is not a date") from None


def source_range(view: FeatureView, start: date, end: date) -> tuple[datetime, datetime]:
    """The event-time range [lo, hi) that days start..end need."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    if view.is_aggregated:
        reach_days = math.ceil(max(window_seconds(f) for f in view.features) / DAY_S)
        lo -= timedelta(days=reach_days)
    return lo, hi


def _dim_mismatch(value: Column, dim: int) -> Column:
    from pyspark.sql import functions as F

    return value.isNotNull() & (F.size(value) != dim)


def _embeddings(view: FeatureView) -> list[tuple[int, str, int]]:
    return [(i, f.name, f.dim) for i, f in enumerate(view.features) if f.dtype == "embedding" and f.dim]


def _samples(frame: DataFrame, condition: Column, value: Column) -> str:
    return ", ".join(repr(r[0]) for r in frame.where(condition).select(value).limit(3).collect())


def _check(
    frame: DataFrame,
    events: DataFrame,
    registry: Registry,
    view: FeatureView,
    span: tuple[date, date],
    stats_run: str | None = None,
) -> tuple[int, list[FeatureStats] | None]:
    """One pass over the (cached) input: null keys, unparsable times, wrong embedding dims.
    With `stats_run` (row views, whose rows are a projection of the input) the same pass,
    grouped by day, also computes the statistics publishing stores (validation.stats).

    Only on failure are samples read back from the source (a second, small job).
    """
    from pyspark.sql import functions as F

    aggregated = view.is_aggregated
    keys = registry.join_keys(view.name)
    weight = F.col("_n") if aggregated else F.lit(1)
    bad_ts = F.col("_bad_ts") if aggregated else F.col("_ts_raw_bad").cast("int")
    dims = _embeddings(view)
    dim_value = {i: F.col(f"_l{i}")["v"] if aggregated else F.col(feature_value_column(i)) for i, _, _ in dims}
    counts = {
        "events": F.sum(weight),
        **{f"null_{k}": F.sum(F.when(F.col(k).isNull(), weight)) for k in keys},
        "bad_ts": F.sum(bad_ts),
        **{f"dim_{i}": F.sum(F.when(_dim_mismatch(dim_value[i], dim), 1)) for i, _, dim in dims},
    }
    checks = [column.alias(name) for name, column in counts.items()]
    if stats_run is None:
        row, stats = frame.agg(*checks).collect()[0].asDict(), None
    else:
        days = _rows_of_view(frame, view).groupBy(PARTITION).agg(*checks, *stats_aggregations(view)).collect()
        row = {name: sum(d[name] or 0 for d in days) for name in counts}
        stats = stats_of_days([d for d in days if d[PARTITION] is not None], view, stats_run)
    _raise_on_failed_checks(row, events, registry, view, span)
    return int(row["events"] or 0), stats


def _rows_of_view(frame: DataFrame, view: FeatureView) -> DataFrame:
    """The input with the columns statistics read, named as in the view's table (compute.rows)."""
    from pyspark.sql import functions as F

    features = [F.col(feature_value_column(i)).alias(f.name) for i, f in enumerate(view.features)]
    return frame.select("*", F.col("_ts").alias(EVENT_TIMESTAMP), *features, F.to_date("_ts").alias(PARTITION))


def _raise_on_failed_checks(
    row: dict[str, Any], events: DataFrame, registry: Registry, view: FeatureView, span: tuple[date, date]
) -> None:
    from pyspark.sql import functions as F

    source = registry.sources[view.source]
    for k in registry.join_keys(view.name):
        if row[f"null_{k}"]:
            raise NullEntityKeysError(view=view.name, source=source.name, column=k, count=row[f"null_{k}"],
                                      start=span[0], end=span[1])  # fmt: skip
    if row["bad_ts"]:
        column = registry.timestamp_column(view.name)
        samples = _samples(events, F.col("_ts_raw_bad"), F.col("_ts_raw"))
        raise UnparsableTimestampsError(view=view.name, source=source.name, column=column, count=row["bad_ts"],
                                        samples=samples)  # fmt: skip
    for i, name, dim in _embeddings(view):
        if row[f"dim_{i}"]:
            value = F.col(feature_value_column(i))
            samples = _samples(events, _dim_mismatch(value, dim), F.size(value))
            raise EmbeddingDimensionError(view=view.name, column=name, dim=dim, count=row[f"dim_{i}"], samples=samples)


@dataclass(frozen=True)
class ComputedDays:
    """Checked feature rows of some days. `cached` is what was cached on the way (the input
    first), unpersisted by the caller once the rows are written; `rows_are_cheap` when `rows`
    is a projection of the input, which publishing need not cache a second time; `stats` the
    per-day statistics of `rows` when the checks' pass computed them."""

    rows: DataFrame
    cached: list[DataFrame]
    source_events: int
    rows_are_cheap: bool
    stats: list[FeatureStats] | None = None  # of `rows`, when computed on the way


def compute_days(
    spark: SparkSession, registry: Registry, view_name: str, lake_root: str, start: date, end: date
) -> ComputedDays:
    """Checked feature rows for days [start, end]."""
    from pyspark import StorageLevel

    if start > end:
        raise DateRangeError(problem=f"--start {start} is after --end {end}")
    view = registry.view(view_name)
    keys = registry.join_keys(view_name)
    lo, hi = source_range(view, start, end)
    events = read_events(spark, registry, view, lake_root, lo, hi)
    if view.is_aggregated:
        cached = bucket_events(events, keys, view.features).persist(StorageLevel.MEMORY_AND_DISK)
        source_events, _ = _check(cached, events, registry, view, (start, end))
        return ComputedDays(daily_aggregates(cached, keys, view.features, start, end), [cached], source_events, False)
    cached = events.persist(StorageLevel.MEMORY_AND_DISK)
    run = run_name(view.name, start, end, "publish")
    source_events, stats = _check(cached, events, registry, view, (start, end), stats_run=run)
    projected = feature_rows(cached, keys, view.features)
    rows, repeated = without_exact_duplicates(projected, keys)
    # Statistics of the input are those of the rows unless exact duplicates were dropped.
    kept = stats if rows is projected else None
    return ComputedDays(rows, [cached, repeated], source_events, rows_are_cheap=rows is projected, stats=kept)


def backfill_view(
    spark: SparkSession,
    registry: Registry,
    view_name: str,
    lake_root: str,
    start: date,
    end: date,
    show_progress: bool = False,
    validation: ValidationPaths | None = None,
    lease: LeaseConf | None = None,
) -> BackfillResult:
    """Compute days [start, end] of a view, validate them, and only then replace them in its Delta table.

    A failed blocking check raises ValidationFailedError and the table is left as it was.
    """
    started = time.monotonic()
    start_imports()  # Great Expectations loads while Spark reads the source
    view = registry.view(view_name)
    path = table_path(lake_root, view)
    days = (end - start).days + 1
    paths = validation or ValidationPaths.for_lake(lake_root)
    with spark_progress(spark, f"{view_name}: reading and checking the source", show_progress):
        computed = compute_days(spark, registry, view_name, lake_root, start, end)
    try:
        with spark_progress(spark, f"{view_name}: computing, validating, publishing {days} day(s)", show_progress):
            published = publish_rows(
                spark, registry, view_name, computed.rows, start, end, paths, lease,
                cache=not computed.rows_are_cheap, stats=computed.stats,
            )  # fmt: skip
    finally:
        for frame in computed.cached:
            frame.unpersist()
    return BackfillResult(
        view=view_name,
        view_version=view.version,
        table=path,
        start=start,
        end=end,
        source_events=computed.source_events,
        rows_written=published.rows_written,
        delta_version=published.delta_version,
        seconds=time.monotonic() - started,
        validation=published.validation,
    )
