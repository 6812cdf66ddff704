"""The hand-written Spark job `featurelake backfill` of a row view is measured against.

What a team would write without featurelake: read the source for the days, compute the
feature columns, add the date, replace those days of a date-partitioned Delta table. No
validation, no statistics, no latest-rows snapshot. Run with spark-submit and the same
session settings as featurelake (benchmarks/bench_backfill_vs_spark.py builds the command).

    spark-submit ... row_backfill.py SOURCE OUT START END KEY TS CREATED NAME=SQL [NAME=SQL ...]
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(argv: list[str]) -> None:
    source, out, start, end, key, ts, created, *features = argv
    lo, hi = date.fromisoformat(start), date.fromisoformat(end) + timedelta(days=1)
    spark = SparkSession.builder.appName("handwritten-row-backfill").getOrCreate()
    events = spark.read.parquet(source).where((F.col(ts) >= F.lit(lo)) & (F.col(ts) < F.lit(hi)))
    columns = [F.expr(spec.split("=", 1)[1]).alias(spec.split("=", 1)[0]) for spec in features]
    rows = events.select(
        F.col(key),
        F.col(ts).cast("timestamp").alias("event_timestamp"),
        F.col(created).cast("timestamp").alias("created_timestamp"),
        *columns,
        F.to_date(F.col(ts).cast("timestamp")).alias("date"),
    )
    (
        rows.repartition("date")
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("date")
        .option("replaceWhere", f"date >= '{lo}' AND date < '{hi}'")
        .save(out)
    )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
