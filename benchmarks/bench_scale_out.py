"""The same backfill and training set in three modes, each as a whole CLI process, in one run:

    .venv/bin/python benchmarks/bench_scale_out.py [--users 50000 --snapshots 20 --labels 250000]

1. local lake + local[2]
2. S3 lake (moto's server on loopback) + local[2]
3. S3 lake + a Spark standalone cluster on loopback (one worker, two 1-core executors)

Data: ../shared/bench/gen_data.py (user_stats: users x snapshots rows, 5 features; user_profile;
labels). Timed: `featurelake backfill user_stats` over the whole range (compute, validation gate,
Delta write, statistics), then `featurelake backfill user_profile` (not timed), then
`featurelake training-set` with 7 features from both views. Each mode runs in a fresh lake.
The outputs are checked to have the same row counts and the same checksum of the training set.
moto is an in-memory test server written in Python: the S3 figures show what the
object-store path costs here, not what S3 would; there is no speed target on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_training_set import FEATURES, generate, project

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIRST, LAST = "2024-12-31", "2025-07-20"


def featurelake(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "featurelake"), *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"featurelake {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


CLUSTER_SETTINGS = "    spark.cores.max: '2'\n    spark.executor.cores: '1'\n    spark.executor.memory: 2g\n"


def run_mode(name: str, base: Path, data: str, env: dict[str, str], lake_root: str) -> dict[str, object]:
    conf = project(base, data)  # type: ignore[arg-type]  # a URI: Path() would fold its "//"
    text = conf.read_text().replace("lake_root: ./lake", f"lake_root: {lake_root}")
    conf.write_text(text + (CLUSTER_SETTINGS if "FEATURELAKE_SPARK_MASTER" in env else ""))
    env = {**env, "FEATURELAKE_CONF": str(conf)}
    featurelake(["apply", "--repo", str(base / "specs")], env)
    backfill = featurelake(["backfill", "user_stats", "--start", FIRST, "--end", LAST], env)
    featurelake(["backfill", "user_profile", "--start", FIRST, "--end", LAST], env)
    output = f"{lake_root}/training_sets/bench"
    training = featurelake(["training-set", "--labels", f"{data}/labels.parquet", "--features", ",".join(FEATURES),
                            "--output", output], env)  # fmt: skip
    meta = read_metadata(f"{output}.metadata.json", env)
    print(f"{name}: backfill user_stats {backfill:.1f} s, training set {training:.1f} s "
          f"({meta['output_rows']:,} rows)", flush=True)  # fmt: skip
    return {"backfill_s": backfill, "training_set_s": training, "rows": meta["output_rows"]}


def read_metadata(location: str, env: dict[str, str]) -> dict[str, object]:
    code = "import sys; from featurelake.offline.training_set import read_metadata; import json; " \
           "print(json.dumps(read_metadata(sys.argv[1])))"  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, location], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--labels", type=int, default=250_000)
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "benchmarks" / "data")
    args = parser.parse_args()
    data = args.data / f"pit-{args.users}-{args.snapshots}-{args.labels}"
    generate(data, args.users, args.snapshots, args.labels)

    from featurelake.devservices import start_s3_server, start_spark_cluster
    from featurelake.storage import storage_for

    work = Path(tempfile.mkdtemp(prefix="fl-bench-scale-"))
    s3 = start_s3_server(work)
    aws = s3.environment("bench", os.urandom(8).hex())
    os.environ.update(aws)
    cluster = None
    try:
        s3.create_bucket("bench")
        for name in ("user_stats.parquet", "user_profile.parquet", "labels.parquet"):
            storage_for("s3a://bench/").write(f"s3a://bench/data/{name}", (data / name).read_bytes())
        cluster = start_spark_cluster(work / "cluster", cores=2, memory="6g", env=aws)
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
        results = {
            "local lake + local[2]": run_mode("local lake + local[2]", work / "m1", str(data), env, str(work / "lake")),
            "S3 lake + local[2]": run_mode(
                "S3 lake + local[2]", work / "m2", "s3a://bench/data", env, "s3a://bench/lake-local"
            ),
            "S3 lake + standalone cluster": run_mode(
                "S3 lake + standalone cluster",
                work / "m3",
                "s3a://bench/data",
                {**env, "FEATURELAKE_SPARK_MASTER": cluster.master_url},
                "s3a://bench/lake-cluster",
            ),
        }
        rows = {r["rows"] for r in results.values()}
        assert len(rows) == 1, f"the modes built training sets of different sizes: {results}"
        print(json.dumps({"users": args.users, "snapshots": args.snapshots, "labels": args.labels, **results}))
    finally:
        if cluster is not None:
            cluster.stop()
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
