"""Label statistics and output counts from parquet footers (offline.footers) against Spark.

The footers must give exactly what the Spark job gives on the same files: row count, null
times and the time range, over several files and row groups, millisecond and microsecond
units, row groups with only nulls; and nothing (so Spark answers) where footers cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurelake.offline.footers import local_parquet_files, row_count, time_stats
from featurelake.offline.training_set import _label_stats, _label_ts


def random_labels(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**9, rows), "ms")
    frame = pd.DataFrame({"user_id": rng.integers(0, 50, rows), "event_timestamp": times})
    frame.loc[rng.random(rows) < 0.1, "event_timestamp"] = pd.NaT
    return frame


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_footer_statistics_equal_the_spark_job_over_files_and_row_groups(spark, tmp_path: Path, unit: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "labels"
    folder.mkdir()
    for part, seed in enumerate((1, 2, 3)):
        table = pa.Table.from_pandas(random_labels(seed, 700), preserve_index=False)
        table = table.cast(pa.schema([("user_id", pa.int64()), ("event_timestamp", pa.timestamp(unit, tz="UTC"))]))
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=128)
    nulls_only = pa.table({"user_id": pa.array([7, 8], pa.int64()),
                           "event_timestamp": pa.array([None, None], pa.timestamp(unit, tz="UTC"))})  # fmt: skip
    pq.write_table(nulls_only, folder / "part-9.parquet")
    frame = _label_ts(spark.read.parquet(str(folder)), "event_timestamp", "labels")

    from_footers = _label_stats(frame, "event_timestamp", parquet=True)
    from_spark = _label_stats(frame, "event_timestamp", parquet=False)
    assert time_stats(local_parquet_files(frame) or [], "event_timestamp") is not None  # the footers answered
    assert from_footers == {**from_spark, "bad": 0}
    assert from_footers["n"] == 2102 and from_footers["null"] > 0
    assert row_count(local_parquet_files(frame) or []) == frame.count()


def test_what_footers_cannot_answer_is_left_to_spark(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    int96 = tmp_path / "int96.parquet"
    table = pa.Table.from_pandas(random_labels(4, 50).dropna(), preserve_index=False)
    table = table.cast(pa.schema([("user_id", pa.int64()), ("event_timestamp", pa.timestamp("us", tz="UTC"))]))
    pq.write_table(table, int96, use_deprecated_int96_timestamps=True)
    assert time_stats([str(int96)], "event_timestamp") is None
    no_stats = tmp_path / "no_stats.parquet"
    pq.write_table(table, no_stats, write_statistics=False)
    assert time_stats([str(no_stats)], "event_timestamp") is None
    frame = _label_ts(spark.read.parquet(str(no_stats)), "event_timestamp", "labels")
    assert _label_stats(frame, "event_timestamp", parquet=True)["n"] == table.num_rows
