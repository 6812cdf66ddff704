"""Spark settings featurelake adds: the local-mode JVM option, and the conf's settings winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.config import load_config
from featurelake.spark.session import LOCAL_DRIVER_JAVA_OPTIONS, settings_without_jars


@pytest.mark.parametrize(
    ("master", "settings", "expected"),
    [
        ("local[2]", "", LOCAL_DRIVER_JAVA_OPTIONS),
        ("local[*]", "    spark.driver.extraJavaOptions: -Xss4m\n", "-Xss4m"),
        ("spark://10.0.0.5:7077", "", None),
    ],
)
def test_local_sessions_get_the_throughput_collector_unless_the_conf_says_otherwise(
    tmp_path: Path, master: str, settings: str, expected: str | None
) -> None:
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"project: t\nspark:\n  master: '{master}'\n  settings:\n    spark.ui.enabled: 'false'\n{settings}")
    assert settings_without_jars(load_config(conf, env={})).get("spark.driver.extraJavaOptions") == expected
