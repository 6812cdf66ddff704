"""Publishing: the only way rows reach a view's Delta table, through the validation gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from featurelake.config import LeaseConf
from featurelake.offline.latest import WrittenDays, refresh_latest
from featurelake.offline.tables import table_key, table_path
from featurelake.offline.writer import replace_range
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView
from featurelake.storage.lease import TableLease
from featurelake.validation.context import ValidationPaths
from featurelake.validation.errors import ValidationFailedError
from featurelake.validation.gate import ValidationOutcome, run_name, validate_rows
from featurelake.validation.records import write_gate_record
from featurelake.validation.stats import FeatureStats, compute_stats, store_stats

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Published:
    delta_version: int
    rows_written: int
    validation: ValidationOutcome


def publish_rows(
    spark: SparkSession,
    registry: Registry,
    view_name: str,
    rows: DataFrame,
    start: date,
    end: date,
    paths: ValidationPaths,
    lease: LeaseConf | None = None,
    cache: bool = True,
    stats: list[FeatureStats] | None = None,
) -> Published:
    """Validate `rows` (days [start, end] of the view), then replace those days with them.

    The rows are computed once and cached (`cache=False` when they are already a projection of
    cached data), so what is validated is exactly what is written.
    A failed blocking check raises ValidationFailedError before anything is written.
    Online views get their latest-rows table refreshed (offline.latest).
    Statistics of each published day are stored for drift checks of later runs and for
    freshness checks (`stats`: already computed from exactly these rows); the gate's verdict
    is recorded either way (validation.records).
    Everything that writes the table (and its snapshot) holds the table's lease
    (storage.lease): one writer per table, which Delta's S3 log store needs.
    """
    from pyspark import StorageLevel

    view = registry.view(view_name)
    if cache:
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        if stats is None:
            stats = _stats_first(rows, view, run_name(view.name, start, end, "publish"))
        outcome = validate_rows(registry, view_name, rows, start, end, paths)
        if not outcome.passed:
            write_gate_record(paths.lake_root, outcome, delta_version=None)
            raise ValidationFailedError(summary=outcome.summary(), outcome=outcome)
        lease = lease or LeaseConf()
        path = table_path(paths.lake_root, view)
        with TableLease(paths.lake_root, table_key(view), lease.ttl_s, lease.wait_s):
            version, metrics = replace_range(spark, path, rows, start, end)
            if view.online:  # materialize --full reads the latest rows instead of regrouping history
                written = WrittenDays(rows, start, end)
                refresh_latest(spark, paths.lake_root, view, registry.join_keys(view_name), version, written)
        stats = stats if stats is not None else compute_stats(rows, view, outcome.run_name)
        store_stats(paths.lake_root, view, stats, start, end)
        write_gate_record(paths.lake_root, outcome, delta_version=version)
    finally:
        if cache:
            rows.unpersist()
    return Published(version, int(metrics.get("numOutputRows", 0)), outcome)


def _stats_first(rows: DataFrame, view: FeatureView, run: str) -> list[FeatureStats] | None:
    """Per-day statistics, computed first: when publishing caches the rows, this job fills the
    cache (one pass instead of a count to cache them and a second aggregation after the write).

    None when the rows are not of the view's shape (a column missing or of another type):
    the gate's checks report that, with a better message than Spark's analysis error."""
    from pyspark.errors import AnalysisException

    try:
        return compute_stats(rows, view, run)
    except AnalysisException:
        return None
