"""Delta through the session factory: proves the jars load and time travel works."""

from __future__ import annotations

from pathlib import Path

from featurelake.spark.smoke import delta_round_trip


def test_session_has_delta_and_utc(spark) -> None:  # type: ignore[no-untyped-def]
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")


def test_delta_write_read_and_time_travel(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = delta_round_trip(spark, str(tmp_path / "t"), rows=100)
    assert result.rows_version_0 == 100
    assert result.rows_latest == 110
    assert result.versions == 2
    assert (tmp_path / "t" / "_delta_log" / "00000000000000000000.json").is_file()


def test_python_workers_run_the_venv_interpreter(spark) -> None:  # type: ignore[no-untyped-def]
    import sys

    def interpreter(_: object) -> str:
        import sys as worker_sys

        return worker_sys.executable

    seen = spark.sparkContext.parallelize([1, 2], 2).map(interpreter).distinct().collect()
    assert seen == [sys.executable]
