"""The driver JVM featurelake launches writes what it prints to Spark's log, not the terminal,
and one that cannot start is a typed error that quotes why (spark/session.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

# A fresh interpreter: the test session's own JVM is already running.
START = """
import sys
from featurelake.config import load_config
from featurelake.spark.session import DriverStartError, build_spark_session

try:
    spark = build_spark_session(load_config(sys.argv[1]), app_name="launch-test")
except DriverStartError as exc:
    print(f"DriverStartError: {exc}")
    sys.exit(3)
print("sum=%d" % spark.range(10).selectExpr("sum(id)").collect()[0][0])
spark.stop()
"""


def _conf(test_conf_path: Path, tmp_path: Path, settings: dict[str, str] | None = None) -> Path:
    data = yaml.safe_load(test_conf_path.read_text())
    data["state_dir"] = str(tmp_path / "state")
    data["spark"]["settings"].update(settings or {})
    path = tmp_path / "conf.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(conf: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", START, str(conf)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_what_the_driver_jvm_prints_goes_to_spark_s_log(test_conf_path: Path, tmp_path: Path) -> None:
    proc = _start(_conf(test_conf_path, tmp_path))
    assert proc.returncode == 0 and "sum=45" in proc.stdout, proc.stderr[-3000:]
    # Spark's launcher always adds --add-modules=jdk.incubator.vector, and the JVM says so.
    assert "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "WARNING: Using incubator modules" in (tmp_path / "state" / "logs" / "spark.log").read_text()


def test_a_driver_jvm_that_cannot_start_is_a_typed_error_that_quotes_it(test_conf_path: Path, tmp_path: Path) -> None:
    # Spark passes -XX:+IgnoreUnrecognizedVMOptions, so an unknown option would not do.
    proc = _start(_conf(test_conf_path, tmp_path, {"spark.driver.extraJavaOptions": "-Xss1k"}))
    log = tmp_path / "state" / "logs" / "spark.log"
    assert proc.returncode == 3, proc.stdout + proc.stderr[-3000:]
    message = proc.stdout.strip()
    assert message.startswith("DriverStartError: the Spark driver JVM did not start"), message
    assert "stack size specified is too small" in message and str(log) in message, message
    assert "stack size" not in proc.stderr, proc.stderr
