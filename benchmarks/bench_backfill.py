"""Backfill throughput and the cost of a one-day run versus history length.

    .venv/bin/python benchmarks/bench_backfill.py [--users 20000]

View user_sessions of the shipped specs (count 7d, sum 7d, avg 30d) over the generated
sessions source (~0.75 sessions per user per day, partitioned by date), local[2].
1. backfill 30 and 90 days with the same data per day: events/s and the time ratio
   (linear growth: 90 days should take about 3x the 30-day time, or less);
2. `run` of the last day with 30 vs 365 days of history (flat: about equal).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.demo_data import DatasetSize, generate
from featurelake.registry import apply_specs, load_registry
from featurelake.spark.session import build_spark_session

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2025, 1, 1)


def project(base: Path, name: str) -> Path:
    conf = base / name / "conf" / "local.yaml"
    conf.parent.mkdir(parents=True)
    jars = REPO_ROOT / ".featurelake" / "jars"
    conf.write_text(
        f"project: bench\nlake_root: ./lake\nspark:\n  master: local[2]\n  jars_dir: {jars}\n"
        "  settings: {spark.sql.shuffle.partitions: '8', spark.ui.enabled: 'false', spark.driver.memory: 6g}\n"
    )
    return conf


def timed_backfill(spark, conf_path: Path, start: date, end: date) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    conf = load_config(conf_path)
    registry = load_registry(conf)
    started = time.perf_counter()
    result = backfill_view(spark, registry, "user_sessions", conf.lake_root, start, end)
    return time.perf_counter() - started, result.source_events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fl-bench-backfill-"))
    try:
        lakes = {}
        for name, days in (("d120", 120), ("d30", 31), ("d365", 366)):
            conf_path = project(base, name)
            conf = load_config(conf_path)
            counts = generate(conf.lake_root, DatasetSize(users=args.users, days=days), only={"sessions"})
            apply_specs(REPO_ROOT / "feature_specs", conf)
            lakes[name] = conf_path
            print(f"generated {name}: {counts['sessions']:,} session events over {days} days")
        spark = build_spark_session(load_config(lakes["d120"]), app_name="bench-backfill")
        spark.sparkContext.setLogLevel("ERROR")
        timed_backfill(spark, lakes["d120"], START + timedelta(30), START + timedelta(36))  # warm-up
        t30, e30 = timed_backfill(spark, lakes["d120"], START + timedelta(30), START + timedelta(59))
        t90, e90 = timed_backfill(spark, lakes["d120"], START + timedelta(30), START + timedelta(119))
        print(f"backfill 30 days: {t30:.1f} s, {e30:,} source events read, {e30 / t30:,.0f} events/s")
        print(f"backfill 90 days: {t90:.1f} s, {e90:,} source events read, {e90 / t90:,.0f} events/s")
        print(f"time ratio 90/30 days: {t90 / t30:.2f} (events ratio {e90 / e30:.2f})")
        r30, _ = timed_backfill(spark, lakes["d30"], START + timedelta(30), START + timedelta(30))
        r365, _ = timed_backfill(spark, lakes["d365"], START + timedelta(365), START + timedelta(365))
        print(
            f"run of one day: {r30:.1f} s with 30 days of history, {r365:.1f} s with 365 days (ratio {r365 / r30:.2f})"
        )
        spark.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
