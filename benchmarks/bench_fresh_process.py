"""Small jobs as users run them: each command a fresh `featurelake` process, with where its time goes.

    .venv/bin/python benchmarks/bench_fresh_process.py [--users 300 --days 21]

Setup (not timed): `featurelake demo --users 300 --days 21` in a scratch project with its
own redis-server (the size the docs tests use). Then, each a whole process, timed from
fork to exit, with Spark's event log on (a setting of this benchmark only: it writes a file,
it does not change the plan):
- `featurelake backfill user_stats` of 5 days (818 source events, validation gate included);
- `featurelake materialize user_stats --full`;
- `featurelake training-set` of the churn labels (16k labels, 8 features, 3 views).
For each: wall seconds, when the JVM's application started, the seconds Spark jobs ran
(the rest is Python, Great Expectations, Py4J and JVM start/stop), the number of jobs, and
the slowest jobs. Median of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def conf_text(base: Path, redis_port: int, events: Path) -> str:
    return f"""project: fresh
lake_root: {base / "lake"}
state_dir: {base / "state"}
web_assets_dir: {REPO_ROOT / ".featurelake" / "web-assets"}
spark:
  master: local[2]
  jars_dir: {REPO_ROOT / ".featurelake" / "jars"}
  settings:
    spark.sql.shuffle.partitions: "2"
    spark.default.parallelism: "2"
    spark.ui.enabled: "false"
    spark.driver.memory: 2g
    spark.eventLog.enabled: "true"
    spark.eventLog.compress: "false"
    spark.eventLog.dir: file://{events}
redis:
  url: redis://127.0.0.1:{redis_port}/0
  embedded: false
"""


def jobs_of(log: Path) -> tuple[float, list[tuple[float, str]]]:
    """(application start as epoch seconds, [(job seconds, description)])."""
    app_start, started, jobs = 0.0, {}, []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            what = props.get("spark.job.description") or props.get("callSite.short") or "?"
            started[event["Job ID"]] = (event["Submission Time"], what.split("<br/>")[0][:70])
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in started:
            at, what = started.pop(event["Job ID"])
            jobs.append(((event["Completion Time"] - at) / 1000, what))
    return app_start, jobs


@dataclass(frozen=True)
class Run:
    wall: float
    jvm_up: float  # seconds from fork to Spark's application start
    job_seconds: float
    jobs: int
    slowest: list[tuple[float, str]]


def timed(argv: list[str], cwd: Path, events: Path) -> Run:
    for old in events.iterdir():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    started = time.time()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    wall = time.time() - started
    logs = [p for p in events.rglob("*") if p.is_file() and "appstatus" not in p.name]
    app_start, jobs = jobs_of(logs[0]) if logs else (started, [])
    return Run(wall, app_start - started, sum(s for s, _ in jobs), len(jobs), sorted(jobs, reverse=True)[:3])


def report(name: str, runs: list[Run]) -> str:
    median = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
    walls = ", ".join(f"{r.wall:.1f}" for r in runs)
    slowest = "; ".join(f"{s:.2f}s {what}" for s, what in median.slowest)
    return (
        f"{name}: whole process {median.wall:.1f}s (runs {walls}); in that run the JVM application was up at "
        f"{median.jvm_up:.1f}s, {median.jobs} Spark jobs ran {median.job_seconds:.1f}s; slowest: {slowest}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from featurelake.online.redis_server import free_port, start_redis_server

    base = Path(tempfile.mkdtemp(prefix="fl-bench-fresh-"))
    events = base / "events"
    events.mkdir()
    redis = start_redis_server(base / "redis", port=free_port(), appendonly=False)
    try:
        (base / "conf").mkdir()
        conf = base / "conf" / "local.yaml"
        conf.write_text(conf_text(base, redis.port, events))
        for folder in ("feature_specs", "jobs"):
            (base / folder).symlink_to(REPO_ROOT / folder)
        fl = str(BIN / "featurelake")
        subprocess.run([fl, "demo", "--conf", str(conf), "--users", str(args.users), "--days", str(args.days)],
                       cwd=base, check=True, capture_output=True)  # fmt: skip
        labels = base / "lake" / "labels" / "churn.parquet"
        commands = {
            "backfill user_stats, 5 days": [fl, "backfill", "user_stats", "--start", "2025-01-08", "--end",
                                            "2025-01-12", "--conf", str(conf)],
            "materialize user_stats --full": [fl, "materialize", "user_stats", "--full", "--conf", str(conf)],
            "training-set churn_model": [fl, "training-set", "--labels", str(labels), "--feature-service",
                                         "churn_model", "--output", str(base / "ts"), "--overwrite",
                                         "--conf", str(conf)],
        }  # fmt: skip
        for name, argv in commands.items():
            print(report(name, [timed(argv, base, events) for _ in range(args.repeat)]), flush=True)
    finally:
        redis.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
