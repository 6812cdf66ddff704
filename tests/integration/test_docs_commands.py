"""Every `featurelake ...` command shown in README and docs/ runs, as a user would type it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.online.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.S)


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for doc in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for block in _BLOCK.findall(doc.read_text()):
            for line in block.splitlines():
                command = line.split("#", 1)[0].strip()
                if command.startswith("featurelake"):
                    found.append((doc.name, command))
    return found


def test_readme_quickstart_is_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip()
        for block in _BLOCK.findall(quickstart)
        for line in block.splitlines()
        if line.strip()
    ]
    assert commands == ["make demo", "make test"]


@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_documented_command_runs(doc: str, command: str, test_conf_path: Path, demo_lake: object) -> None:
    env = {**os.environ, "FEATURELAKE_CONF": str(test_conf_path)}
    argv = shlex.split(command)
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"{doc}: `{command}` failed:\n{proc.stderr[-2000:]}"


@pytest.mark.slow
def test_demo_runs_on_the_test_environment(redis_server: RedisServer, tmp_path: Path, make_test_conf) -> None:  # type: ignore[no-untyped-def]
    conf = make_test_conf(tmp_path, redis_server.url, tmp_path / "lake")  # its own lake: the demo regenerates data
    proc = subprocess.run(
        [str(BIN / "featurelake"), "demo", "--conf", str(conf), "--repo", str(REPO_ROOT / "feature_specs"),
         "--users", "300", "--days", "21"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "redis: round trip" in proc.stdout
    assert "specs: 5 feature views applied" in proc.stdout
    for view in ("user_orders", "user_sessions", "user_stats", "user_embedding", "product_popularity"):
        assert f"backfill {view}: 21 days" in proc.stdout
    assert proc.stdout.count("validated (") == 5 and "Data Docs (validation reports):" in proc.stdout
    assert "training set:" in proc.stdout and "x 8 features" in proc.stdout
