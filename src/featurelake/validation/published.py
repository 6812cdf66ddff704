"""validate-data: run a view's checks on data already published (on demand, nothing is written)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from featurelake.compute.errors import DateRangeError
from featurelake.offline.tables import table_path
from featurelake.offline.training_set import FeatureTableMissingError
from featurelake.offline.writer import range_predicate
from featurelake.registry.model import Registry
from featurelake.validation.context import ValidationPaths
from featurelake.validation.gate import ValidationOutcome, validate_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def validate_published(
    spark: SparkSession, registry: Registry, view_name: str, start: date, end: date, paths: ValidationPaths
) -> ValidationOutcome:
    """Validate the published days [start, end] of a view; Data Docs gets the result."""
    from delta.tables import DeltaTable

    if start > end:
        raise DateRangeError(problem=f"--start {start} is after --end {end}")
    view = registry.view(view_name)
    path = table_path(paths.lake_root, view)
    if not DeltaTable.isDeltaTable(spark, path):
        raise FeatureTableMissingError(view=view_name, version=view.version, path=path)
    rows = spark.read.format("delta").load(path).where(range_predicate(start, end)).cache()
    try:
        return validate_rows(registry, view_name, rows, start, end, paths, purpose="check")
    finally:
        rows.unpersist()
