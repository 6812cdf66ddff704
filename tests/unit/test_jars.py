from __future__ import annotations

from pathlib import Path

import pytest

from featurelake.errors import DeltaJarsMissingError
from featurelake.spark.jars import artifact_name, delta_coordinates, delta_jars


def test_artifact_name_strips_versions() -> None:
    assert artifact_name("delta-spark_4.2_2.13-4.4.0.jar") == "delta-spark_4.2_2.13"
    assert artifact_name("jackson-core-2.21.2.jar") == "jackson-core"
    assert artifact_name("zstd-jni-1.5.7-7.jar") == "zstd-jni"
    assert artifact_name("RoaringBitmap-1.6.10.jar") == "RoaringBitmap"


def test_coordinates_match_installed_spark_and_delta() -> None:
    import pyspark

    artifact, version = delta_coordinates()
    assert artifact == f"delta-spark_{'.'.join(pyspark.__version__.split('.')[:2])}_2.13"
    assert version.startswith("4.")


def test_missing_jars_tell_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DeltaJarsMissingError, match="make setup"):
        delta_jars(tmp_path)


def test_setup_fetched_the_pinned_delta_jar(repo_root: Path) -> None:
    jars = delta_jars(repo_root / ".featurelake" / "jars")
    artifact, version = delta_coordinates()
    assert any(j.name == f"{artifact}-{version}.jar" for j in jars)
    # nothing Spark already ships is duplicated on the classpath
    assert not any(j.name.startswith(("jackson-core", "hadoop-client", "parquet-", "scala-library")) for j in jars)


def test_setup_installed_spark_defaults_for_spark_submit() -> None:
    """A plain `spark-submit jobs/...` must get Delta before its JVM starts."""
    from featurelake.spark.jars import spark_home

    defaults = (spark_home() / "conf" / "spark-defaults.conf").read_text()
    settings = dict(line.split(" ", 1) for line in defaults.splitlines() if line and not line.startswith("#"))
    assert "delta-spark_" in settings["spark.jars"]
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert Path(settings["spark.pyspark.python"]).is_file()
