"""A Delta round trip that proves the jars, extensions and time travel work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class DeltaRoundTrip:
    path: str
    rows_latest: int
    rows_version_0: int
    versions: int


def delta_round_trip(spark: SparkSession, path: str, rows: int = 1000) -> DeltaRoundTrip:
    """Write `rows` rows (version 0), append 10 (version 1), read both versions back."""
    from delta.tables import DeltaTable

    spark.range(0, rows).write.format("delta").mode("overwrite").save(path)
    spark.range(0, 10).write.format("delta").mode("append").save(path)
    latest = spark.read.format("delta").load(path).count()
    first = spark.read.format("delta").option("versionAsOf", 0).load(path).count()
    history = DeltaTable.forPath(spark, path).history().count()
    return DeltaRoundTrip(path=path, rows_latest=latest, rows_version_0=first, versions=history)
