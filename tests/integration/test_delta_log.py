"""Reading a Delta table version from its log (offline.delta_log) against Delta's own reader.

Every version of a table that went through appends, day replacements, deletes and
checkpoints must read the same rows both ways, from the log's files; what the replay does
not handle (deletion vectors, column mapping, a log cleaned up before a checkpoint) must
be left to Delta's reader.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from featurelake.offline.delta_log import commit_infos, live_files, read_version

SCHEMA = "user_id long, event_timestamp timestamp, score double, tier string, date date"


def rows_of(frame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    columns = sorted(frame.columns)
    return frame.select(*columns).toPandas().sort_values(columns, ignore_index=True)


def write_day(spark, path: str, day: int, users: range, mode: str, properties: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    when = f"2025-05-{day:02d}"
    rows = [(u, f"{when} {u % 24:02d}:00:00", u * 0.5 + day, f"t {u % 3}", when) for u in users]
    frame = spark.createDataFrame(rows, "user_id long, ts string, score double, tier string, day string").selectExpr(
        "user_id", "CAST(ts AS TIMESTAMP) AS event_timestamp", "score", "tier", "CAST(day AS DATE) AS date"
    )
    writer = frame.write.format("delta").mode(mode).partitionBy("date")
    for key, value in properties.items():
        writer = writer.option(key, value)
    if mode == "overwrite":
        writer = writer.option("replaceWhere", f"date = '{when}'")
    writer.save(path)


def history_table(spark, path: str, properties: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    """Appends, a day replaced twice (fewer users, then more), a delete: returns the last version."""
    for day in (1, 2, 3):
        write_day(spark, path, day, range(day, 40), "append", properties)
    write_day(spark, path, 2, range(5, 12), "overwrite", {})
    write_day(spark, path, 4, range(0, 30), "append", {})
    spark.sql(f"DELETE FROM delta.`{path}` WHERE user_id % 7 = 0")
    write_day(spark, path, 2, range(0, 50), "overwrite", {})
    write_day(spark, path, 5, range(10, 20), "append", {})
    return len(list(Path(path, "_delta_log").glob("*.json"))) - 1


def test_every_version_reads_the_rows_delta_reads_through_checkpoints(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "table")
    last = history_table(spark, path, {"delta.checkpointInterval": "3"})
    assert list(Path(path, "_delta_log").glob("*.checkpoint.parquet")), "the table must have checkpoints"
    for version in range(last + 1):
        assert live_files(path, version) is not None, f"version {version} was left to Delta's reader"
        expected = rows_of(spark.read.format("delta").option("versionAsOf", version).load(path))
        got = rows_of(read_version(spark, path, version))
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=f"version {version}")
    assert read_version(spark, path, last).schema == spark.read.format("delta").load(path).schema


def test_a_log_cleaned_up_before_its_checkpoint_reads_from_the_checkpoint(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "table")
    last = history_table(spark, path, {"delta.checkpointInterval": "3"})
    log = Path(path, "_delta_log")
    for version in range(3):  # what log cleanup removes: commits older than a checkpoint (at 3)
        (log / f"{version:020d}.json").unlink()
    assert live_files(path, 2) is None  # gone from the log: Delta's reader says so
    for version in range(3, last + 1):
        expected = rows_of(spark.read.format("delta").option("versionAsOf", version).load(path))
        pd.testing.assert_frame_equal(rows_of(read_version(spark, path, version)), expected, check_dtype=False)
        assert live_files(path, version) is not None


def test_partition_values_that_need_escaping_in_file_names(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "table")
    frame = spark.createDataFrame([(1, "a b"), (2, "c%d"), (3, "e/f"), (4, "ü")], "id long, part string")
    frame.write.format("delta").partitionBy("part").save(path)
    assert live_files(path, 0) is not None
    expected = rows_of(spark.read.format("delta").load(path))
    pd.testing.assert_frame_equal(rows_of(read_version(spark, path, 0)), expected, check_dtype=False)


@pytest.mark.parametrize(
    "properties",
    [{"delta.enableDeletionVectors": "true"}, {"delta.columnMapping.mode": "name"}],
    ids=["deletion vectors", "column mapping"],
)
def test_what_the_replay_does_not_handle_is_read_by_delta(spark, tmp_path: Path, properties: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "table")
    last = history_table(spark, path, properties)
    assert live_files(path, last) is None
    expected = rows_of(spark.read.format("delta").option("versionAsOf", last).load(path))
    pd.testing.assert_frame_equal(rows_of(read_version(spark, path, last)), expected, check_dtype=False)


def test_commit_infos_answer_what_deltas_history_answers(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The commits featurelake asks about (replaced days, the newest commit's metrics) read from
    the log equal Delta's `history()`; a range the log no longer holds is None, not a guess."""
    from delta.tables import DeltaTable

    from featurelake.offline import writer
    from featurelake.offline.writer import days_ever_written, days_since

    path = str(tmp_path / "table")
    last = history_table(spark, path, {"delta.checkpointInterval": "3"})
    history = sorted(DeltaTable.forPath(spark, path).history().collect(), key=lambda c: c["version"])
    infos = commit_infos(path)
    assert infos is not None and [c["version"] for c in infos] == list(range(last + 1))
    for info, row in zip(infos, history, strict=True):
        assert (info["operation"], info.get("operationParameters"), info.get("operationMetrics")) == (
            row["operation"], row["operationParameters"], row["operationMetrics"]
        ), f"version {row['version']}"  # fmt: skip
    assert [c["version"] for c in commit_infos(path, last - 2) or []] == [last - 1, last]
    assert commit_infos(path, last) == []
    newest = writer._newest_commit(spark, path)
    assert (newest["version"], newest["operationMetrics"]) == (last, history[-1]["operationMetrics"])

    # featurelake's commits record the days they replaced; these plain writes do not, so both
    # answers are "unknown" (None), and after a cleanup the local answer stays None.
    assert days_ever_written(spark, path) is None and days_since(spark, path, last) == []
    Path(path, "_delta_log", f"{1:020d}.json").unlink()
    assert commit_infos(path) is None and commit_infos(path, 0) is None
    assert commit_infos(path, 1) is not None


def test_days_since_say_unknown_when_the_log_lost_a_commit(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Both ways of asking which days were replaced since a version (the log read in Python for
    local tables, Delta's history() for object stores) agree, and both answer None once log
    cleanup removed a commit of that range: history() alone would list the rest as if whole."""
    import json

    from featurelake.offline import writer

    path = str(tmp_path / "table")
    for day in range(1, 6):
        days = {"userMetadata": json.dumps({writer.DAYS_METADATA: [f"2025-05-0{day}"] * 2})}
        write_day(spark, path, day, range(day, 20), "overwrite", {**days, "delta.checkpointInterval": "2"})
    assert list(Path(path, "_delta_log").glob(f"{2:020d}.checkpoint.parquet"))
    expected = [(date(2025, 5, d), date(2025, 5, d)) for d in range(2, 6)]
    assert writer.days_since(spark, path, 0) == expected == writer._days_since_by_history(spark, path, 0)
    assert writer.days_since(spark, path, 4) == [] == writer._days_since_by_history(spark, path, 4)

    Path(path, "_delta_log", f"{1:020d}.json").unlink()  # what cleanup removes: commits before a checkpoint
    assert writer.days_since(spark, path, 0) is None and writer._days_since_by_history(spark, path, 0) is None
    assert writer.days_since(spark, path, 1) == expected[1:] == writer._days_since_by_history(spark, path, 1)
