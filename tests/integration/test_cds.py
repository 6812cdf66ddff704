"""The driver's class-data-sharing archive and, on a JDK 25, its AOT cache (spark/cds.py):
setup builds them, every driver featurelake starts maps one, and a stale one is ignored
without a word."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.config import load_config
from featurelake.spark.cds import AOT_CACHE, ARCHIVE, aot_cache_is_current, aot_jdk, archive_is_current, cds_dir

# A fresh interpreter: the test session's own JVM is already running.
CHECK = """
import os, sys
from featurelake.config import load_config
from featurelake.spark.session import build_spark_session, driver_java_options

conf = load_config(sys.argv[1])
conf = conf.model_copy(update={"spark": conf.spark.model_copy(update={"aot_cache": sys.argv[4] == "aot"})})
before = {k: os.environ.get(k) for k in ("SPARK_CONF_DIR", "JAVA_HOME")}
options = f"{driver_java_options(conf)} {sys.argv[3]} -Xlog:class+load=info:file={sys.argv[2]}"
spark = build_spark_session(conf, app_name="cds-test", extra={"spark.driver.extraJavaOptions": options})
assert spark.range(100).selectExpr("sum(id)").collect()[0][0] == 4950
# The empty conf folder and the JDK are for the JVM's launch only: a plain spark-submit
# started later by this process must still read setup's spark-defaults.conf with its own java.
after = {k: os.environ.get(k) for k in before}
assert after == before, (before, after)
print("java.version=" + spark.sparkContext._jvm.java.lang.System.getProperty("java.version"))
spark.stop()
"""


def _start_driver(
    conf_path: Path, log: Path, more_options: str = "", aot: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", CHECK, str(conf_path), str(log), more_options, "aot" if aot else "cds"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _spark_classes_from_archive(log: Path) -> tuple[int, int]:
    """(Spark classes loaded from the archive, Spark classes read from jar files). Classes
    made at run time (lambdas, generated code) come from neither and are not counted."""
    lines = [line for line in log.read_text().splitlines() if " org.apache.spark." in line]
    return sum("source: shared objects file" in line for line in lines), sum("source: file:" in line for line in lines)


def _java_version(proc: subprocess.CompletedProcess[str]) -> str:
    return next(line.split("=", 1)[1] for line in proc.stdout.splitlines() if line.startswith("java.version="))


def test_setup_built_the_archive_and_a_driver_maps_it(test_conf_path: Path, tmp_path: Path) -> None:
    conf = load_config(test_conf_path)
    assert archive_is_current(conf), f"setup (featurelake setup-jars) should have built {cds_dir(conf) / ARCHIVE}"
    log = tmp_path / "classes.log"
    proc = _start_driver(test_conf_path, log)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shared, from_jars = _spark_classes_from_archive(log)
    # Only classes for work the archive's run did not do are read from jars.
    assert shared > 4000 and shared > 20 * from_jars, (shared, from_jars)


def test_a_stale_archive_is_ignored_silently(test_conf_path: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale.jsa"
    stale.write_bytes(b"not an archive" * 1000)
    log = tmp_path / "classes.log"
    # The last SharedArchiveFile given wins: the one the conf's own options name is replaced.
    proc = _start_driver(test_conf_path, log, f"-XX:SharedArchiveFile={stale}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cds" not in (proc.stdout + proc.stderr).lower(), (proc.stdout + proc.stderr)[-2000:]
    shared, from_jars = _spark_classes_from_archive(log)
    assert shared == 0 and from_jars > 4000, (shared, from_jars)


JDK_25 = aot_jdk()
needs_jdk_25 = pytest.mark.skipif(JDK_25 is None, reason="no JDK 25.0.3+ on this machine: drivers use the archive")


@needs_jdk_25
def test_setup_built_the_aot_cache_and_a_local_driver_runs_on_its_jdk(test_conf_path: Path, tmp_path: Path) -> None:
    conf = load_config(test_conf_path)
    assert JDK_25 is not None
    assert aot_cache_is_current(conf, JDK_25), f"setup should have built {cds_dir(conf) / AOT_CACHE} on {JDK_25}"
    log = tmp_path / "classes.log"
    proc = _start_driver(test_conf_path, log, aot=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _java_version(proc).startswith("25."), proc.stdout
    shared, from_jars = _spark_classes_from_archive(log)
    assert shared > 4000 and shared > 20 * from_jars, (shared, from_jars)


@needs_jdk_25
def test_a_stale_aot_cache_is_ignored_silently(test_conf_path: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale.aot"
    stale.write_bytes(b"not a cache" * 1000)
    log = tmp_path / "classes.log"
    proc = _start_driver(test_conf_path, log, f"-XX:AOTCache={stale}", aot=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "aot" not in (proc.stdout + proc.stderr).lower(), (proc.stdout + proc.stderr)[-2000:]
    assert _java_version(proc).startswith("25."), proc.stdout
    shared, from_jars = _spark_classes_from_archive(log)
    assert shared == 0 and from_jars > 4000, (shared, from_jars)
