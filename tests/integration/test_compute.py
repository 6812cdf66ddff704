"""backfill / run on the shipped specs and a generated dataset: idempotence, isolation, bad input."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.config import FeaturelakeConfig
from featurelake.offline.tables import table_path
from featurelake.offline.writer import replace_range

START = date(2025, 1, 1)


def content_hash(spark, path: str) -> str:  # type: ignore[no-untyped-def]
    frame = spark.read.format("delta").load(path).toPandas()
    frame = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def versions(spark, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    return [r["operation"] for r in DeltaTable.forPath(spark, path).history().orderBy("version").collect()]


def test_rerun_of_a_backfill_leaves_identical_content(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    first = backfill_view(
        spark, registry, "user_orders", test_conf.lake_root, START + timedelta(5), START + timedelta(12)
    )
    assert first.days == 8 and first.rows_written > 0 and first.source_events > 0
    before = content_hash(spark, first.table)
    second = backfill_view(
        spark, registry, "user_orders", test_conf.lake_root, START + timedelta(5), START + timedelta(12)
    )
    assert content_hash(spark, second.table) == before
    assert second.delta_version == first.delta_version + 1
    assert versions(spark, first.table)[-2:] == ["WRITE", "WRITE"]  # both runs are in the history


def test_run_replaces_only_its_own_day(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    backfill_view(spark, registry, "user_sessions", test_conf.lake_root, START + timedelta(3), START + timedelta(9))
    path = table_path(test_conf.lake_root, registry.view("user_sessions"))
    table = spark.read.format("delta").load(path)
    others_before = (
        table.where("date != '2025-01-07'").toPandas().sort_values(["user_id", "date"]).reset_index(drop=True)
    )
    result = backfill_view(spark, registry, "user_sessions", test_conf.lake_root, date(2025, 1, 7), date(2025, 1, 7))
    assert result.days == 1
    after = spark.read.format("delta").load(path)
    others_after = (
        after.where("date != '2025-01-07'").toPandas().sort_values(["user_id", "date"]).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(others_before, others_after)
    assert after.where("date = '2025-01-07'").count() == result.rows_written


def test_concurrent_runs_of_disjoint_days_both_succeed(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    errors: list[BaseException] = []

    def run(day: date) -> None:
        try:
            backfill_view(spark, registry, "product_popularity", test_conf.lake_root, day, day)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(START + timedelta(d),)) for d in (10, 11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    path = table_path(test_conf.lake_root, registry.view("product_popularity"))
    days = {r["date"] for r in spark.read.format("delta").load(path).select("date").distinct().collect()}
    assert days == {START + timedelta(d) for d in (10, 11, 12)}


def test_a_failed_write_leaves_the_table_as_before(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    registry, _ = demo_lake
    result = backfill_view(
        spark, registry, "user_orders", test_conf.lake_root, START + timedelta(14), START + timedelta(15)
    )
    before = content_hash(spark, result.table)
    rows = spark.read.format("delta").load(result.table).where("date = '2025-01-15'")
    poisoned = rows.withColumn(
        "orders_7d", F.when(F.col("user_id") % 7 == 3, F.raise_error(F.lit("boom"))).otherwise(F.col("orders_7d"))
    )
    with pytest.raises(Exception, match="boom"):
        replace_range(spark, result.table, poisoned, date(2025, 1, 15), date(2025, 1, 15))
    assert DeltaTable.forPath(spark, result.table).history(1).collect()[0]["version"] == result.delta_version
    assert content_hash(spark, result.table) == before


def test_row_view_keeps_source_rows_with_expressions(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    result = backfill_view(
        spark, registry, "user_stats", test_conf.lake_root, START + timedelta(2), START + timedelta(4)
    )
    table = spark.read.format("delta").load(result.table).toPandas()
    raw = pd.read_parquet(Path(test_conf.lake_root) / "raw" / "user_stats")
    raw = raw[raw.event_timestamp.dt.date.between(START + timedelta(2), START + timedelta(4))]
    assert len(table) == len(raw) == result.rows_written
    merged = table.merge(raw, on=["user_id", "purchases_7d", "spend_30d", "account_age_days"])
    assert len(merged) == len(raw)
    expected = merged.spend_30d / merged.purchases_7d.where(merged.purchases_7d != 0)
    pd.testing.assert_series_equal(merged.spend_per_purchase, expected, check_names=False)
    assert (pd.to_datetime(merged.created_timestamp, utc=True) == merged.created).all()
    assert_stats_of_table(registry.view("user_stats"), test_conf.lake_root, table, days=3)


def assert_stats_of_table(view, lake_root: str, table: pd.DataFrame, days: int) -> None:  # type: ignore[no-untyped-def]
    """The statistics a backfill stored (computed in its checks' pass over the source) are
    those of the rows it wrote, day by day."""
    from featurelake.validation.stats import FeatureStats, stats_dir

    stored = {p.stem: FeatureStats.from_json(p.read_text()) for p in Path(stats_dir(lake_root, view)).glob("*.json")}
    assert table.date.nunique() == days
    for day, frame in table.groupby("date"):
        stats = stored[str(day)]
        assert stats.rows == len(frame)
        assert stats.newest_event_us == int(pd.Timestamp(frame.event_timestamp.max()).value // 1000)
        for feature in view.features:
            column, got = frame[feature.name], stats.features[feature.name]
            assert got.null_rate == pytest.approx(column.isna().mean()), feature.name
            assert (got.min, got.max) == (pytest.approx(column.min()), pytest.approx(column.max())), feature.name
            assert got.mean == pytest.approx(column.mean()) and got.stddev == pytest.approx(column.std(ddof=0))


def test_embeddings_are_float_arrays_of_the_declared_dim(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    result = backfill_view(
        spark, registry, "user_embedding", test_conf.lake_root, START + timedelta(1), START + timedelta(1)
    )
    table = spark.read.format("delta").load(result.table)
    assert table.schema["behaviour_embedding"].dataType.simpleString() == "array<float>"
    assert {r[0] for r in table.selectExpr("size(behaviour_embedding)").distinct().collect()} == {16}


def test_a_run_reads_only_the_partitions_its_window_needs(
    spark, demo_lake, test_conf: FeaturelakeConfig, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A corrupt file outside the 7-day window of a `run` is never read; one inside it is."""
    registry, _ = demo_lake
    raw = tmp_path / "lake" / "raw" / "product_views"
    shutil.copytree(Path(test_conf.lake_root) / "raw" / "product_views", raw)
    day = date(2025, 1, 20)  # product_popularity's largest window is 7d: it needs 2025-01-14 .. 2025-01-20
    (raw / "date=2025-01-05" / "corrupt.parquet").write_bytes(b"not parquet at all")
    result = backfill_view(spark, registry, "product_popularity", str(tmp_path / "lake"), day, day)
    assert result.rows_written > 0
    (raw / "date=2025-01-16" / "corrupt.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(Exception, match=r"(?i)parquet"):
        backfill_view(spark, registry, "product_popularity", str(tmp_path / "lake"), day, day)


@pytest.mark.slow
def test_cli_and_spark_submit_job_take_the_same_arguments(demo_lake, test_conf_path: Path, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    from featurelake.config import load_config
    from featurelake.spark.session import spark_submit_command

    cli = Path(sys.executable).parent / "featurelake"
    args = ["run", "user_orders", "--date", "2025-01-18", "--conf", str(test_conf_path)]
    proc = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "user_orders v1: 1 day(s) 2025-01-18..2025-01-18" in proc.stdout
    command = spark_submit_command(load_config(test_conf_path), repo_root / "jobs" / "compute_features.py", args)
    job = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert job.returncode == 0, job.stderr[-2000:]
    assert "user_orders v1: 1 day(s) 2025-01-18..2025-01-18" in job.stdout
    bad = subprocess.run([str(cli), "run", "user_ordrs", "--date", "2025-01-18", "--conf", str(test_conf_path)],
                         capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert bad.returncode == 1
    assert "did you mean 'user_orders'?" in bad.stderr


def _copy_rows(day_dir: Path, count: int, change: str | None = None) -> None:
    """Write the first `count` rows of a day's file again as another file (one column changed if asked)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = pq.read_table(sorted(day_dir.glob("*.parquet"))[0]).slice(0, count)
    if change:
        i = rows.schema.get_field_index(change)
        rows = rows.set_column(i, change, pc.add(rows.column(change), pa.scalar(1, rows.schema.field(change).type)))
    pq.write_table(rows, day_dir / "copied.parquet")


@pytest.mark.parametrize("change", [None, "spend_30d"])
def test_exact_duplicate_source_rows_are_written_once_and_conflicting_ones_fail_the_gate(
    spark, demo_lake, test_conf: FeaturelakeConfig, tmp_path: Path, change: str | None
) -> None:  # type: ignore[no-untyped-def]
    from featurelake.validation.errors import ValidationFailedError

    registry, _ = demo_lake
    raw = tmp_path / "lake" / "raw" / "user_stats"
    shutil.copytree(Path(test_conf.lake_root) / "raw" / "user_stats", raw)
    day = START + timedelta(3)
    _copy_rows(raw / f"date={day}", 4, change)
    source = pd.read_parquet(raw / f"date={day}")
    assert source.duplicated(["user_id", "event_timestamp", "created"]).sum() == 4

    lake = str(tmp_path / "lake")
    if change is not None:  # same (user, times), another value: which row is right is unknowable
        with pytest.raises(ValidationFailedError) as failed:
            backfill_view(spark, registry, "user_stats", lake, day, day)
        unique = {r.check.name: r for r in failed.value.fields["outcome"].failures}["unique_row"]
        assert unique.unexpected_count == 4 and unique.days == (str(day),)
        assert not Path(table_path(lake, registry.view("user_stats"))).exists()  # nothing published
        return
    result = backfill_view(spark, registry, "user_stats", lake, day, day)
    table = spark.read.format("delta").load(result.table).toPandas()
    assert result.source_events == len(source)
    assert result.rows_written == len(table) == len(source) - 4
    assert not table.duplicated(["user_id", "event_timestamp", "created_timestamp"]).any()
    assert set(table.user_id) == set(source.user_id)
    assert_stats_of_table(registry.view("user_stats"), lake, table, days=1)  # of the rows written once
