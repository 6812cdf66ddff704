"""validate-data and reports from a shell: published data checked on demand."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.offline.tables import table_path
from featurelake.registry import apply_specs, load_registry
from featurelake.validation.context import ValidationPaths
from featurelake.validation.published import validate_published

BIN = Path(sys.executable).parent
DAYS = (date(2025, 1, 4), date(2025, 1, 5))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "featurelake"), *args], capture_output=True, text=True, timeout=300, check=False)


def test_validate_data_passes_on_published_days_and_fails_once_they_are_corrupted(  # type: ignore[no-untyped-def]
    spark, tmp_path, make_test_conf, redis_server, repo_root
) -> None:
    from featurelake.demo_data import DatasetSize, generate

    conf_path = make_test_conf(tmp_path, redis_server.url, tmp_path / "lake")
    conf = load_config(conf_path, env={})
    missing = _cli("reports", "--conf", str(conf_path))
    assert missing.returncode == 1 and "no Data Docs" in missing.stderr

    generate(conf.lake_root, DatasetSize(users=60, products=20, days=6))
    apply_specs(repo_root / "feature_specs", conf)
    registry = load_registry(conf)
    paths = ValidationPaths.from_config(conf)
    backfill_view(spark, registry, "user_stats", conf.lake_root, *DAYS, validation=paths)
    assert validate_published(spark, registry, "user_stats", *DAYS, paths).passed

    # Someone writes to the table behind featurelake's back: a row without its entity key.
    table = table_path(conf.lake_root, registry.view("user_stats"))
    published = spark.read.format("delta").load(table)
    published.limit(1).withColumn("user_id", published["user_id"] * None).write.format("delta").mode("append").save(
        table
    )

    proc = _cli("validate-data", "user_stats", "--start", str(DAYS[0]), "--end", str(DAYS[1]), "--conf", str(conf_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "entity key user_id is never null" in proc.stderr and "1 unexpected" in proc.stderr
    assert "recompute the days above" in proc.stderr
    listed = _cli("reports", "--conf", str(conf_path))
    assert listed.returncode == 0 and str(paths.data_docs_index) in listed.stdout


def test_validate_data_of_a_view_never_backfilled_is_a_clear_error(spark, test_conf, demo_lake) -> None:  # type: ignore[no-untyped-def]
    from featurelake.offline.training_set import FeatureTableMissingError

    registry, _ = demo_lake
    paths = ValidationPaths(test_conf.lake_root + "/nowhere", test_conf.lake_root + "/nowhere/_reports")
    with pytest.raises(FeatureTableMissingError, match="run `featurelake backfill user_stats"):
        validate_published(spark, registry, "user_stats", *DAYS, paths)
