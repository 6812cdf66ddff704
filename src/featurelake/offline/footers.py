"""Counts and time bounds of parquet data from its footers, without a Spark job.

A training set needs the labels' row count, time range and null times before it plans the
join, and counts its output after writing it. On local parquet those answers are in every
file's footer (row counts, and per row group the column's min, max and null count), so a
fresh process need not run a cold Spark job for them (~1.3 s for the labels). The files are
the ones Spark itself will read (`DataFrame.inputFiles()`); when a footer lacks a statistic,
or the data is not local parquet, the caller asks Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurelake.storage import is_object_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}  # ns: Spark refuses to read them anyway


@dataclass(frozen=True)
class TimeStats:
    """Rows, null times, and the earliest and latest time in epoch microseconds (None: all null)."""

    rows: int
    nulls: int
    lo: int | None
    hi: int | None


def local_parquet_files(frame: DataFrame) -> list[str] | None:
    """The local files a DataFrame read from parquet will read, or None (on an object store)."""
    files = frame.inputFiles()
    if not files or any(is_object_store(f) for f in files):
        return None
    return [f.removeprefix("file://").removeprefix("file:") for f in files]


def row_count(files: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for f in files)


def time_stats(files: list[str], column: str) -> TimeStats | None:
    """The column's statistics over all files; None when any row group lacks them (or the
    column is not an int64 timestamp there: INT96 has no usable statistics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = nulls = 0
    bounds: list[int] = []
    try:
        for path in files:
            with pq.ParquetFile(path) as parquet:
                arrow, index = parquet.schema_arrow, _leaf_index(parquet, column)
                kind = arrow.field(column).type if column in arrow.names else None
                scale = _MICROS.get(kind.unit) if isinstance(kind, pa.TimestampType) else None
                if scale is None or index is None:
                    return None
                for group in range(parquet.metadata.num_row_groups):
                    meta = parquet.metadata.row_group(group)
                    chunk = meta.column(index)
                    stats = chunk.statistics
                    if stats is None or not stats.has_null_count or chunk.physical_type != "INT64":
                        return None
                    rows, nulls = rows + meta.num_rows, nulls + stats.null_count
                    if stats.has_min_max:
                        bounds += [stats.min_raw * scale, stats.max_raw * scale]
                    elif stats.null_count != meta.num_rows:
                        return None
    except (OSError, pa.ArrowException):
        return None  # not a parquet file after all: Spark reads it and says what is wrong
    return TimeStats(rows=rows, nulls=nulls, lo=min(bounds, default=None), hi=max(bounds, default=None))


def _leaf_index(parquet: object, column: str) -> int | None:
    """The column's index among the file's leaf columns (top-level, not nested)."""
    schema = parquet.metadata.schema  # type: ignore[attr-defined]
    for i in range(len(schema)):
        if schema.column(i).path == column:
            return i
    return None
