"""Validation time for 1M rows of a 10-feature view, and its share of the run.

    .venv/bin/python benchmarks/bench_validation.py [--users 100000 --days 10]

A row view with 10 features (4 double, 3 int64, a string, a bool, a 16-dim embedding) and
10 spec expectations, on a generated source of users x days rows (one row per user per
day, 1M by default). One `backfill` of all days is one batch: the run is timed end to end
(read, compute, validate, publish, stats) and the validation gate (Great Expectations
checkpoint + Data Docs) on its own. Run twice: the first in a fresh JVM, then warm
(the same days replaced, drift checks now included). local[2].
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.registry import apply_specs, load_registry
from featurelake.spark.session import build_spark_session
from featurelake.validation.context import ValidationPaths

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2025, 3, 1)
SPECS = """
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - {name: bench_events, format: parquet, path: raw/bench_events, timestamp: ts}
feature_view:
  name: bench_wide
  version: 1
  entity: user
  source: bench_events
  owner: bench
  ttl: 30d
  features:
    - {name: f_spend, dtype: double, expectations: [not_null, {between: {min: 0}}]}
    - {name: f_ratio, dtype: double, expectations: [{between: {min: 0, max: 1}}]}
    - {name: f_score, dtype: double, expectations: [{mean_between: {min: -1, max: 1}}]}
    - {name: f_amount, dtype: double}
    - {name: f_count, dtype: int64, expectations: [not_null, {between: {min: 0, max: 1000}}]}
    - {name: f_days, dtype: int64, expectations: [{between: {min: 0, max: 3650}}]}
    - {name: f_items, dtype: int64}
    - {name: f_channel, dtype: string, expectations: [{in_set: {values: [web, ios, android]}}]}
    - {name: f_active, dtype: bool, expectations: [not_null]}
    - {name: f_embedding, dtype: embedding, dim: 16, expression: embedding, expectations: [not_null]}
"""


def write_source(lake: Path, users: int, days: int, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    for d in range(days):
        day = START + timedelta(days=d)
        frame = pd.DataFrame({
            "user_id": np.arange(users, dtype=np.int64),
            "ts": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, users), unit="s"),
            "f_spend": rng.gamma(2.0, 40.0, users),
            "f_ratio": rng.random(users),
            "f_score": rng.normal(0, 1, users),
            "f_amount": rng.gamma(2.0, 20.0, users),
            "f_count": rng.integers(0, 1000, users),
            "f_days": rng.integers(0, 3650, users),
            "f_items": rng.integers(0, 50, users),
            "f_channel": rng.choice(["web", "ios", "android"], users),
            "f_active": rng.random(users) < 0.7,
            "embedding": list(rng.normal(0, 1, (users, 16)).astype(np.float32)),
        })  # fmt: skip
        folder = lake / "raw" / "bench_events" / f"date={day}"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-0.parquet", coerce_timestamps="us", allow_truncated_timestamps=True)
    return users * days


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fl-bench-validation-"))
    try:
        (base / "conf").mkdir()
        (base / "specs").mkdir()
        (base / "specs" / "bench.yaml").write_text(SPECS)
        (base / "conf" / "local.yaml").write_text(
            f"project: bench\nlake_root: ./lake\nweb_assets_dir: {REPO_ROOT / '.featurelake' / 'web-assets'}\n"
            f"spark:\n  master: local[2]\n  jars_dir: {REPO_ROOT / '.featurelake' / 'jars'}\n"
            "  settings: {spark.sql.shuffle.partitions: '8', spark.ui.enabled: 'false', spark.driver.memory: 8g}\n"
        )
        conf = load_config(base / "conf" / "local.yaml")
        rows = write_source(Path(conf.lake_root), args.users, args.days)
        apply_specs(base / "specs", conf)
        registry = load_registry(conf)
        spark = build_spark_session(conf, app_name="bench-validation")
        spark.sparkContext.setLogLevel("ERROR")
        end = START + timedelta(days=args.days - 1)
        print(f"{rows:,} rows, 10 features, {args.days} days in one batch (local[2])")
        for label in ("first run (fresh JVM)", "second run (warm)"):
            started = time.perf_counter()
            result = backfill_view(spark, registry, "bench_wide", conf.lake_root, START, end,
                                   validation=ValidationPaths.from_config(conf))  # fmt: skip
            total = time.perf_counter() - started
            gate = result.validation.seconds
            print(f"{label}: run {total:.1f}s, validation {gate:.1f}s ({gate / total:.0%} of the run), "
                  f"{len(result.validation.results)} checks, {rows / gate:,.0f} rows/s validated")  # fmt: skip
        spark.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
