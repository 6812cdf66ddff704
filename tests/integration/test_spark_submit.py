"""jobs/ under spark-submit get the same Delta jars and settings as in-process sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.config import FeaturelakeConfig
from featurelake.spark.session import spark_submit_command, spark_submit_environment

pytestmark = pytest.mark.slow


def _activated(env: dict[str, str]) -> dict[str, str]:
    """The environment of a shell with the venv activated, as a user runs spark-submit (its
    launcher finds SPARK_HOME with `python3`), whatever this test process did before."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", "SPARK_LOCAL_IP": "127.0.0.1"}


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def test_spark_submit_command_runs_a_delta_job(
    test_conf: FeaturelakeConfig, test_conf_path: Path, repo_root: Path, tmp_path: Path
) -> None:
    command = spark_submit_command(
        test_conf,
        repo_root / "jobs" / "delta_smoke.py",
        ["--path", str(tmp_path / "t"), "--conf", str(test_conf_path)],
    )
    assert "--jars" in command and any("delta-spark" in part for part in command)
    env = _activated(spark_submit_environment(test_conf))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    result = _result(proc)
    assert result["rows_version_0"] == 1000
    assert result["rows_latest"] == 1010
    assert result["tz"] == "UTC"


def test_plain_spark_submit_uses_the_installed_defaults(test_conf_path: Path, repo_root: Path, tmp_path: Path) -> None:
    """What a user types: no --jars; setup's spark-defaults.conf supplies Delta."""
    spark_submit = str(Path(sys.executable).parent / "spark-submit")
    env = _activated(dict(os.environ))
    proc = subprocess.run(
        [spark_submit, "--master", "local[1]", str(repo_root / "jobs" / "delta_smoke.py"),
         "--path", str(tmp_path / "t"), "--conf", str(test_conf_path)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert _result(proc)["rows_version_0"] == 1000
