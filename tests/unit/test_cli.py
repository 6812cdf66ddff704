"""The console script as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featurelake import __version__
from featurelake.cli.common import stopped_by_sigterm

FEATURELAKE = str(Path(sys.executable).parent / "featurelake")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FEATURELAKE, *args], capture_output=True, text=True, env=env, check=False)


def test_help_lists_the_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("config", "redis", "setup-jars", "demo"):
        assert command in proc.stdout


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"featurelake {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    assert run("no-such-command").returncode == 2


def test_config_error_is_exit_1_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lake_root: [unclosed\n")
    proc = run("config", "--conf", str(bad))
    assert proc.returncode == 1
    assert "not valid YAML" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_never_prints_the_password(repo_root: Path) -> None:
    import os

    secret = "pa55-w0rd-xyz"
    env = {**os.environ, "FEATURELAKE_REDIS_PASSWORD": secret}
    proc = run("config", "--conf", str(repo_root / "conf" / "cluster.example.yaml"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert '"password": "***"' in proc.stdout


def test_sigterm_stops_a_service_command_as_ctrl_c_does() -> None:
    """`featurelake airflow` and `dev-cluster` run services in their own process groups: a
    supervisor's SIGTERM must reach their cleanup (KeyboardInterrupt), then act as before."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stopped_by_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here, at once
    assert signal.getsignal(signal.SIGTERM) == before
