"""`featurelake backfill` of a row view against a hand-written Spark job, both as whole processes.

    .venv/bin/python benchmarks/bench_backfill_vs_spark.py [--workload demo|gen_data] [--repeat 2]

- `demo`: the `make demo` data (100k users x 90 days) in a scratch project with the shipped
  specs and conf/local.yaml's settings; view `user_stats`, 60 days (2025-01-01..03-01).
- `demo_aggregated`: the same data; view `user_orders` (count, sum, last, avg, max over 7 and
  30 days), the 60 days `make demo` backfills (2025-01-31..03-31), against
  benchmarks/handwritten/user_orders_backfill.py.
- `gen_data`: ../shared/bench/gen_data.py `--users 200000 --snapshots 20` (4M rows, made
  once under benchmarks/data); view `user_stats` of bench_training_set.py, 5 features.

Each round times, fork to exit: `featurelake backfill` (compute, validation gate, Delta
write, latest-rows snapshot, statistics) and `spark-submit benchmarks/handwritten/row_backfill.py`
(read, compute the same columns, write the same date-partitioned Delta table) twice, with the
same Spark settings (featurelake's spark_submit_command):
- `plain`: as a team without featurelake runs it, on the default java (issue #19's peer);
- `same JVM`: with featurelake's spark_submit_environment too, so on the driver JVM
  featurelake starts (its JDK and setup's class-data-sharing archive or AOT cache). Before
  2026-12-07 only `plain` was timed.
The two tables are then compared (every column but created_timestamp, as multisets) so both
did the same work. Prints the medians and both ratios (issue #19's target, against `plain`:
at most 1.5x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = REPO_ROOT / "benchmarks" / "handwritten" / "row_backfill.py"
AGGREGATED_JOB = REPO_ROOT / "benchmarks" / "handwritten" / "user_orders_backfill.py"
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

DEMO_FEATURES = [
    "purchases_7d=CAST(purchases_7d AS BIGINT)",
    "spend_30d=CAST(spend_30d AS DOUBLE)",
    "spend_per_purchase=CAST(spend_30d / nullif(purchases_7d, 0) AS DOUBLE)",
    "refund_rate_30d=CAST(refunds_30d / nullif(purchases_7d, 0) AS DOUBLE)",
    "account_age_days=CAST(account_age_days AS BIGINT)",
]


def shipped_conf(base: Path) -> Path:
    """conf/local.yaml with the lake, state and jars moved (every Spark setting as shipped)."""
    text = (REPO_ROOT / "conf" / "local.yaml").read_text()
    text = text.replace("lake_root: ./lake", f"lake_root: {base / 'lake'}")
    text = text.replace("state_dir: ./.featurelake", f"state_dir: {base / 'state'}")
    text = text.replace("jars_dir: ./.featurelake/jars", f"jars_dir: {REPO_ROOT / '.featurelake' / 'jars'}")
    conf = base / "conf" / "local.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    return conf


def demo_lake(base: Path) -> tuple[Path, Path]:
    from featurelake.config import load_config
    from featurelake.demo_data import DEMO_SIZE, generate
    from featurelake.registry import apply_specs

    conf_path = shipped_conf(base)
    conf = load_config(conf_path, env={})
    print("generating the demo data (100k users x 90 days) ...", flush=True)
    generate(conf.lake_root, DEMO_SIZE)
    apply_specs(REPO_ROOT / "feature_specs", conf)
    return conf_path, Path(conf.lake_root) / "raw"


def demo_workload(base: Path) -> tuple[Path, str, list[str], Path, list[str]]:
    conf_path, raw = demo_lake(base)
    days = ["2025-01-01", "2025-03-01"]
    job_args = [str(raw / "user_stats"), *days, "user_id", "event_timestamp", "created", *DEMO_FEATURES]
    return conf_path, "user_stats", days, JOB, job_args


def demo_aggregated_workload(base: Path) -> tuple[Path, str, list[str], Path, list[str]]:
    """The demo's user_orders (5 windowed aggregates, 7 and 30 days) over the days make demo backfills."""
    conf_path, raw = demo_lake(base)
    days = ["2025-01-31", "2025-03-31"]
    return conf_path, "user_orders", days, AGGREGATED_JOB, [str(raw / "orders"), *days]


def gen_data_workload(base: Path) -> tuple[Path, str, list[str], Path, list[str]]:
    from bench_training_set import FEATURES, SPECS, VIEW, generate

    from featurelake.config import load_config
    from featurelake.registry import apply_specs

    data = REPO_ROOT / "benchmarks" / "data" / "pit-200000-20-1000000"
    generate(data, 200_000, 20, 1_000_000)
    conf_path = shipped_conf(base)
    specs = base / "specs"
    specs.mkdir()
    (specs / "base.yaml").write_text(SPECS.format(data=data))
    names = [f.split(":")[1] for f in FEATURES[:5]]
    dtypes = ["double" if "spend" in n or "avg" in n else "int64" for n in names]
    listed = "\n".join(f"    - {{name: {n}, dtype: {t}}}" for n, t in zip(names, dtypes, strict=True))
    (specs / "stats.yaml").write_text(VIEW.format(name="user_stats", source="stats", ttl="30d", features=listed))
    apply_specs(specs, load_config(conf_path, env={}))
    casts = [f"{n}=CAST({n} AS {'DOUBLE' if t == 'double' else 'BIGINT'})" for n, t in zip(names, dtypes, strict=True)]
    days = ["2024-12-31", "2025-07-20"]
    source = str(data / "user_stats.parquet")
    return conf_path, "user_stats", days, JOB, [source, *days, "user_id", "event_timestamp", "created", *casts]


def timed(command: list[str], cwd: Path, environment: dict[str, str] | None = None) -> float:
    env = {**(environment or os.environ), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:3])} ...\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def same_tables(conf_path: Path, view: str, handwritten: str) -> int:
    """Rows of the view's table; raises if the hand-written table differs (created_timestamp aside)."""
    from featurelake.config import load_config
    from featurelake.offline.tables import table_path
    from featurelake.registry import load_registry
    from featurelake.spark.session import build_spark_session

    conf = load_config(conf_path, env={})
    spark = build_spark_session(conf, app_name="bench-compare")
    from pyspark.sql import functions as F

    ours = spark.read.format("delta").load(table_path(conf.lake_root, load_registry(conf).view(view)))
    theirs = spark.read.format("delta").load(handwritten).select(*ours.columns)
    # Sums taken in another order may differ in the last bits: doubles compared to 9 decimals.
    doubles = {f.name for f in ours.schema.fields if f.dataType.typeName() == "double"}
    kept = [c for c in ours.columns if c != "created_timestamp"]
    shown = [F.round(c, 9).alias(c) if c in doubles else F.col(c) for c in kept]
    ours, theirs = ours.select(*shown), theirs.select(*shown)
    differ = ours.exceptAll(theirs).count() + theirs.exceptAll(ours).count()
    rows = ours.count()
    spark.stop()
    if differ:
        raise SystemExit(f"the hand-written table differs from featurelake's in {differ} rows")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["demo", "demo_aggregated", "gen_data"], default="demo")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from featurelake.config import load_config
    from featurelake.spark.session import spark_submit_command, spark_submit_environment

    base = Path(tempfile.mkdtemp(prefix=f"fl-bench-vs-spark-{args.workload}-"))
    try:
        workload = {"demo": demo_workload, "demo_aggregated": demo_aggregated_workload, "gen_data": gen_data_workload}
        conf_path, view, (start, end), job, job_args = workload[args.workload](base)
        out = str(base / "handwritten" / view)
        ours_cmd = [str(BIN / "featurelake"), "backfill", view, "--start", start, "--end", end,
                    "--conf", str(conf_path)]  # fmt: skip
        conf = load_config(conf_path, env={})
        theirs_cmd = spark_submit_command(conf, job, [job_args[0], out, *job_args[1:]])
        theirs_env = spark_submit_environment(conf)
        ours: list[float] = []
        plain: list[float] = []
        same: list[float] = []
        for _ in range(args.repeat):
            ours.append(timed(ours_cmd, base))
            plain.append(timed(theirs_cmd, base))
            same.append(timed(theirs_cmd, base, theirs_env))
            print(f"  featurelake backfill {ours[-1]:.1f} s, hand-written job {plain[-1]:.1f} s plain, "
                  f"{same[-1]:.1f} s on the same JVM", flush=True)  # fmt: skip
        rows = same_tables(conf_path, view, out)
        a, b, c = statistics.median(ours), statistics.median(plain), statistics.median(same)
        head = f"{args.workload} {view} {start}..{end}, {rows} rows, whole processes, median of {args.repeat}"
        print(f"{head}: featurelake backfill {a:.1f} s, hand-written job {b:.1f} s plain: {a / b:.2f}x "
              f"(target <= 1.5x); {c:.1f} s on the same JVM: {a / c:.2f}x")  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
