"""`featurelake training-set` against Feast 0.67, both as whole processes (issue #19).

    .venv/bin/python benchmarks/bench_training_set_process.py [--users 200000 --labels 1000000] [--double] [--repeat 2]

Setup, not timed: ../shared/bench/gen_data.py data (as bench_training_set.py: user_stats
users x 20 snapshots, user_profile, labels), a scratch project with conf/local.yaml's
settings as shipped (driver memory 4g, local[*]), both views backfilled by `featurelake
backfill` processes. Timed, fork to exit, each round:
- `featurelake training-set --labels labels.parquet --features <7 features> --output ...`;
- Feast: `benchmarks/peers/feast_training_set.py --repeat 1` in benchmarks/.venv-feast
  (benchmarks/setup_feast.sh): its repo, apply, Spark session, one build written as parquet.
Prints the medians and the ratio (issue #19's target: featurelake at least 3x faster);
with --double, also featurelake at twice the users and labels (target: at most 2.2x the time).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_backfill_vs_spark import shipped_conf, timed  # noqa: E402
from bench_training_set import FEATURES, generate, write_specs  # noqa: E402

FEAST_PYTHON = REPO_ROOT / "benchmarks" / ".venv-feast" / "bin" / "python"


def lake(base: Path, data: Path) -> Path:
    """A scratch project over `data` with both views backfilled; returns its conf."""
    from featurelake.config import load_config
    from featurelake.registry import apply_specs

    conf = shipped_conf(base)
    (base / "specs").mkdir()
    write_specs(base / "specs", data)
    apply_specs(base / "specs", load_config(conf, env={}))
    for view in ("user_stats", "user_profile"):
        timed([str(BIN / "featurelake"), "backfill", view, "--start", "2024-12-31", "--end", "2025-07-20",
               "--conf", str(conf)], base)  # fmt: skip
    return conf


def ours(base: Path, conf: Path, data: Path) -> float:
    return timed([str(BIN / "featurelake"), "training-set", "--labels", str(data / "labels.parquet"),
                  "--features", ",".join(FEATURES), "--output", str(base / "training_set"), "--overwrite",
                  "--conf", str(conf)], base)  # fmt: skip


def feast(base: Path, data: Path) -> float:
    script = REPO_ROOT / "benchmarks" / "peers" / "feast_training_set.py"
    return timed([str(FEAST_PYTHON), str(script), "--data", str(data), "--out", str(base / "feast"), "--repeat", "1"],
                 base)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--double", action="store_true", help="also featurelake at twice the users and labels")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "benchmarks" / "data")
    args = parser.parse_args()
    if not FEAST_PYTHON.exists():
        raise SystemExit("Feast is not installed: run benchmarks/setup_feast.sh first")
    sizes = [(args.users, args.labels)] + ([(args.users * 2, args.labels * 2)] if args.double else [])
    medians = []
    for users, labels in sizes:
        data = args.data / f"pit-{users}-{args.snapshots}-{labels}"
        generate(data, users, args.snapshots, labels)
        base = Path(tempfile.mkdtemp(prefix="fl-bench-pit-process-"))
        try:
            conf = lake(base, data)
            mine, theirs = [], []
            for _ in range(args.repeat):
                mine.append(ours(base, conf, data))
                if users == args.users:
                    theirs.append(feast(base, data))
                shown = f", Feast {theirs[-1]:.1f} s" if theirs else ""
                print(f"  users={users:,} labels={labels:,}: featurelake training-set {mine[-1]:.1f} s{shown}",
                      flush=True)  # fmt: skip
        finally:
            shutil.rmtree(base, ignore_errors=True)
        medians.append(statistics.median(mine))
        head = f"users={users:,} labels={labels:,}, whole processes, median of {args.repeat}"
        if theirs:
            peer = statistics.median(theirs)
            print(f"{head}: featurelake {medians[-1]:.1f} s, Feast 0.67 {peer:.1f} s: "
                  f"{peer / medians[-1]:.2f}x faster (target >= 3x)")  # fmt: skip
        else:
            print(f"{head}: featurelake {medians[-1]:.1f} s")
    if len(medians) == 2:
        print(f"twice the users and labels: {medians[1] / medians[0]:.2f}x the time (target <= 2.2x)")


if __name__ == "__main__":
    main()
