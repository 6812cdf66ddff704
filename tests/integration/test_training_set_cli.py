"""`featurelake training-set` and `spark-submit jobs/build_training_set.py`: same arguments, same rows."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.config import FeaturelakeConfig, load_config
from featurelake.spark.session import spark_submit_command

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).parent / "featurelake")


@pytest.fixture(scope="module")
def churn_tables(spark, demo_lake, test_conf: FeaturelakeConfig) -> None:  # type: ignore[no-untyped-def]
    registry, _ = demo_lake
    for view in ("user_orders", "user_sessions", "user_stats"):
        backfill_view(spark, registry, view, test_conf.lake_root, date(2025, 1, 1), date(2025, 1, 19))


def test_cli_and_job_build_the_same_training_set(
    churn_tables, test_conf_path: Path, repo_root: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    labels = pd.DataFrame({
        "user_id": [1, 2, 3, 3, 150, 9999],
        "event_timestamp": ["2025-01-05T10:00:00", "2025-01-10 00:00:00", "2025-01-15T23:59:59Z",
                            "2025-01-15T23:59:59Z", "2025-01-19T12:00:00", "2025-01-12T00:00:00"],
        "churned": [0, 1, 0, 0, 1, 0],
    })  # fmt: skip
    labels.to_csv(tmp_path / "labels.csv", index=False)
    args = ["--labels", str(tmp_path / "labels.csv"), "--feature-service", "churn_model", "--conf", str(test_conf_path)]
    cli = subprocess.run([CLI, "training-set", *args, "--output", str(tmp_path / "cli")], capture_output=True,
                         text=True, timeout=600, check=False)  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "training set: 6 rows (6 labels)" in cli.stdout
    assert (tmp_path / "cli.metadata.json").is_file()
    command = spark_submit_command(load_config(test_conf_path), repo_root / "jobs" / "build_training_set.py",
                                   [*args, "--output", str(tmp_path / "job")])  # fmt: skip
    job = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert job.returncode == 0, job.stderr[-2000:]
    by_cli = pd.read_parquet(tmp_path / "cli").sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    by_job = pd.read_parquet(tmp_path / "job").sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(by_cli, by_job)
    assert list(by_cli.columns) == ["user_id", "event_timestamp", "churned", "orders_7d", "spend_30d", "last_channel",
                                    "avg_order_value_30d", "max_quantity_7d", "sessions_7d", "minutes_7d",
                                    "spend_per_purchase"]  # fmt: skip
    unknown = by_cli[by_cli.user_id == 9999].iloc[0]
    assert unknown.orders_7d == 0 and unknown.minutes_7d == 0.0 and unknown.spend_30d == 0.0  # count, sum defaults
    assert pd.isna(unknown.last_channel)  # no default: null


def test_cli_bad_input_is_exit_1_and_writes_nothing(churn_tables, test_conf_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pd.DataFrame({"user_id": [1], "ts": ["2025-01-05"]}).to_csv(tmp_path / "labels.csv", index=False)
    proc = subprocess.run([CLI, "training-set", "--labels", str(tmp_path / "labels.csv"), "--features",
                           "user_orders:spend_30d", "--output", str(tmp_path / "out"), "--conf", str(test_conf_path)],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "no column 'event_timestamp'" in proc.stderr and "--timestamp-column" in proc.stderr
    assert not (tmp_path / "out").exists()
