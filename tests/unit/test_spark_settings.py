"""Spark settings featurelake adds: the local-mode JVM option, and the conf's settings winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.config import load_config
from featurelake.online.redis_server import free_port
from featurelake.spark.object_store import ObjectStoreJarsMissingError, s3a_settings
from featurelake.spark.session import (
    LOCAL_DRIVER_JAVA_OPTIONS,
    LOCAL_LISTING_THRESHOLD,
    SparkMasterUnreachableError,
    check_master_reachable,
    settings_without_jars,
)
from featurelake.storage import S3Settings


@pytest.mark.parametrize(
    ("master", "settings", "collector", "log_file"),
    [
        ("local[2]", "", True, True),
        ("local[*]", "    spark.driver.extraJavaOptions: -Xss4m\n", False, False),
        ("spark://10.0.0.5:7077", "", False, True),
    ],
)
def test_drivers_log_to_a_file_and_local_ones_get_the_throughput_collector_unless_the_conf_says_otherwise(
    tmp_path: Path, master: str, settings: str, collector: bool, log_file: bool
) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"project: t\nstate_dir: {tmp_path / 'my state'}\nspark:\n  master: '{master}'\n  settings:\n"
                    f"    spark.ui.enabled: 'false'\n{settings}")  # fmt: skip
    options = settings_without_jars(load_config(conf, env={}))["spark.driver.extraJavaOptions"]
    assert (LOCAL_DRIVER_JAVA_OPTIONS in options) == collector
    assert (f'"-Dfeaturelake.spark.log={tmp_path / "my state" / "logs" / "spark.log"}"' in options) == log_file
    assert ("-Dlog4j2.configurationFile=" in options) == log_file
    if not log_file:
        assert options == "-Xss4m"


@pytest.mark.parametrize(
    ("master", "settings", "expected"),
    [
        ("spark://h:7077", "", "8"),
        ("spark://h:7077", "    spark.sql.shuffle.partitions: '2'\n", "2"),
        ("spark://h:7077", "    spark.sql.shuffle.partitions: '400'\n", "50"),
        ("local[2]", "", "2"),
        ("local[16]", "", "8"),
        ("local[3,2]", "    spark.sql.shuffle.partitions: '400'\n", "3"),
        ("local", "", "1"),
        (
            "local[2]",
            "    spark.sql.shuffle.partitions: '4'\n    spark.databricks.delta.snapshotPartitions: '16'\n",
            "16",
        ),
    ],
)
def test_delta_rebuilds_table_state_in_as_many_tasks_as_the_session_shuffles_at_most_50_or_the_local_cores(
    tmp_path: Path, master: str, settings: str, expected: str
) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"project: t\nspark:\n  master: {master}\n  settings:\n    spark.ui.enabled: 'false'\n{settings}")
    assert settings_without_jars(load_config(conf, env={}))["spark.databricks.delta.snapshotPartitions"] == expected


def test_an_unreachable_master_is_a_typed_error_in_seconds() -> None:
    with pytest.raises(SparkMasterUnreachableError, match="FEATURELAKE_SPARK_MASTER"):
        check_master_reachable(f"spark://127.0.0.1:{free_port()}", timeout_s=2)


def test_an_object_store_lake_without_the_s3a_jars_says_to_run_setup(tmp_path: Path) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"project: t\nlake_root: s3a://b/lake\nspark:\n  jars_dir: {tmp_path / 'nojars'}\n")
    with pytest.raises(ObjectStoreJarsMissingError, match="make setup"):
        settings_without_jars(load_config(conf, env={}))
    conf.write_text(f"project: t\nlake_root: {tmp_path}/lake\nspark:\n  jars_dir: {tmp_path / 'nojars'}\n")
    assert "spark.driver.extraClassPath" not in settings_without_jars(load_config(conf, env={}))


def test_s3a_settings_follow_the_endpoint_and_carry_no_credentials() -> None:
    settings = s3a_settings(S3Settings("http://127.0.0.1:9000", "eu-west-1"))
    assert settings["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert settings["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert settings["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert not any("key" in k.lower() or "secret" in k.lower() for k in settings)
    assert "spark.hadoop.fs.s3a.endpoint" not in s3a_settings(S3Settings())  # AWS itself: s3a's own default


@pytest.mark.parametrize(
    ("master", "settings", "expected"),
    [
        ("local[2]", "", LOCAL_LISTING_THRESHOLD),
        ("local[2]", "    spark.sql.sources.parallelPartitionDiscovery.threshold: '64'\n", "64"),
        ("spark://h:7077", "", None),
    ],
)
def test_local_sessions_list_files_in_the_driver_instead_of_a_spark_job(
    tmp_path: Path, master: str, settings: str, expected: str | None
) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"project: t\nspark:\n  master: {master}\n  settings:\n    spark.ui.enabled: 'false'\n{settings}")
    got = settings_without_jars(load_config(conf, env={})).get("spark.sql.sources.parallelPartitionDiscovery.threshold")
    assert got == expected
