"""Row views: source rows with their expressions applied, as they are (no aggregation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurelake.compute.source import feature_value_column
from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, PARTITION
from featurelake.specs.models import Feature

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def feature_rows(events: DataFrame, keys: list[str], features: list[Feature]) -> DataFrame:
    """One output row per source row; exact duplicate rows are written once."""
    from pyspark.sql import functions as F

    return events.select(
        *keys,
        F.col("_ts").alias(EVENT_TIMESTAMP),
        F.col("_created").alias(CREATED_TIMESTAMP),
        *[F.col(feature_value_column(i)).alias(f.name) for i, f in enumerate(features)],
        F.to_date("_ts").alias(PARTITION),
    ).dropDuplicates()
