"""`featurelake backfill` killed with SIGKILL (the whole process group: CLI, JVM, Python
workers) at a seeded random moment of its run on the S3 lake, then run again: the rerun is
not blocked by the killed writer's lease, and the table equals a clean run's. After the kill
and after the rerun, the latest-rows snapshot the backfill refreshes (both views are online)
is whole and true. Short form: one kill of the aggregated view; `pytest --soak`: 20 per view."""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from featurelake.config import load_config
from featurelake.demo_data import DatasetSize, generate
from featurelake.offline.tables import table_path
from featurelake.registry import apply_specs, load_registry
from featurelake.storage import join, storage_for

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _table(spark, conf, view: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = spark.read.format("delta").load(table_path(conf.lake_root, load_registry(conf).view(view))).toPandas()
    frame = frame.drop(columns=["created_timestamp"])
    return frame.sort_values(list(frame.columns)[:2]).reset_index(drop=True)


def views(soak: bool) -> list[str]:
    return ["user_orders", "user_stats"] if soak else ["user_orders"]  # short form: the aggregated view


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "view" in metafunc.fixturenames:
        metafunc.parametrize("view", views(bool(metafunc.config.getoption("--soak"))))


def test_backfill_killed_at_random_points_then_rerun_equals_a_clean_run(
    view: str,
    spark,
    s3_server,
    redis_server,
    make_test_conf,
    repo_root: Path,
    tmp_path: Path,
    soak: bool,
    kill_after,
    seed,
    latest_rows_true,
) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from featurelake.compute.backfill import backfill_view
    from featurelake.validation.context import ValidationPaths

    lake = f"s3a://lake/kill-backfill-{uuid.uuid4().hex[:8]}"
    local = tmp_path / "raw-lake"
    generate(local, DatasetSize(users=60, products=20, days=6))
    storage_for(lake).put_tree(local / "raw", join(lake, "raw"))
    conf = load_config(make_test_conf(tmp_path, redis_server.url, lake), env={**os.environ})
    apply_specs(repo_root / "feature_specs", conf)
    first, last = date(2025, 1, 1), date(2025, 1, 5)
    # The clean run, in this (warm) process: what every rerun after a kill must reproduce.
    backfill_view(spark, load_registry(conf), view, lake, first, last, validation=ValidationPaths.from_config(conf))
    expected = _table(spark, conf, view)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [str(BIN / "featurelake"), "backfill", view, "--start", str(first), "--end", str(last),
               "--conf", str(conf.source_file)]  # fmt: skip
    rng = random.Random(f"{seed}-{view}")
    leases = join(lake, "_leases", "features", view)
    duration, killed = 25.0, 0  # about a whole CLI run's length; measured by each rerun
    for _ in range(20 if soak else 1):
        if kill_after(command, rng.uniform(0.2 * duration, duration), env) is None:
            killed += 1
        latest_rows_true(spark, conf, view)
        rerun = time.monotonic()
        assert kill_after(command, 600, env) == 0  # not blocked: the killed writer's lease is taken over
        duration = time.monotonic() - rerun
        pd.testing.assert_frame_equal(_table(spark, conf, view), expected)
        assert storage_for(lake).list(leases) == []  # released by the rerun
        latest_rows_true(spark, conf, view)
    print(f"backfill {view} on S3: {killed} killed mid-run, every rerun equal to the clean run "
          f"(last rerun {duration:.0f} s)")  # fmt: skip
