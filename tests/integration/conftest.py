"""The demo, run once per test session on a small size: its project (lake, Redis values,
training set, labels) is what the docs and notebook tests work in, as a user would after
`make demo`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DemoProject:
    root: Path  # a project folder: conf/local.yaml, feature_specs and jobs linked from the repo
    conf: Path
    lake: Path
    stdout: str


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory, redis_server, make_test_conf) -> DemoProject:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("demo-project")
    written = make_test_conf(root, redis_server.url.replace("/0", "/1"), root / "lake", project="fldemo")
    conf = written.with_name("local.yaml")
    shutil.move(written, conf)
    for folder in ("feature_specs", "jobs", "dags"):
        (root / folder).symlink_to(REPO_ROOT / folder)
    proc = subprocess.run(
        [str(BIN / "featurelake"), "demo", "--conf", str(conf), "--users", "300", "--days", "21"],
        cwd=root, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"the demo failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    labels = pd.read_parquet(root / "lake" / "labels" / "churn.parquet")
    labels.to_parquet(root / "labels.parquet")
    labels.to_csv(root / "labels.csv", index=False)
    return DemoProject(root, conf, root / "lake", proc.stdout)
