"""featurelake validate: wall time of the CLI (interpreter start included).

    .venv/bin/python benchmarks/bench_validate.py

Measures the shipped repo and a generated repo of 200 feature views (5 features each);
prints the median of 7 runs of each.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FEATURELAKE = str(Path(sys.executable).parent / "featurelake")

VIEW = """feature_view:
  name: view_{i:03d}
  version: 1
  entity: user
  source: orders
  owner: team_{team}
  ttl: 30d
  freshness_sla: 26h
  online: true
  features:
    - {{name: orders_7d, dtype: int64, aggregation: {{function: count, window: 7d}}}}
    - {{name: spend_30d, dtype: double, expression: amount, aggregation: {{function: sum, window: 30d}},
       expectations: [not_null, {{between: {{min: 0, max: 100000}}}}]}}
    - {{name: avg_30d, dtype: double, expression: "amount * 1.0", aggregation: {{function: avg, window: 30d}}}}
    - {{name: max_qty_7d, dtype: int64, expression: quantity, aggregation: {{function: max, window: 7d}}}}
    - {{name: last_channel, dtype: string, expression: "lower(channel)", aggregation: {{function: last, window: 30d}},
       expectations: [{{in_set: {{values: [web, ios, android]}}}}]}}
"""


def generated_repo(base: Path, views: int) -> Path:
    repo = base / "generated"
    repo.mkdir()
    shutil.copy(REPO_ROOT / "feature_specs" / "entities.yaml", repo)
    shutil.copy(REPO_ROOT / "feature_specs" / "sources.yaml", repo)
    for i in range(views):
        (repo / f"view_{i:03d}.yaml").write_text(VIEW.format(i=i, team=i % 7))
    return repo


def median_seconds(repo: Path, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([FEATURELAKE, "validate", "--repo", str(repo)], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    shipped = median_seconds(REPO_ROOT / "feature_specs")
    print(f"validate shipped repo (5 views, 17 features): {shipped:.2f} s (median of 7, CLI start included)")
    with tempfile.TemporaryDirectory() as tmp:
        big = median_seconds(generated_repo(Path(tmp), 200))
    print(f"validate generated repo (200 views, 1000 features): {big:.2f} s")


if __name__ == "__main__":
    main()
