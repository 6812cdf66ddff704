"""Materialization of 1M entities as users run it: `featurelake materialize --full`, a whole process.

    .venv/bin/python benchmarks/bench_materialize_process.py [--users 1000000 --snapshots 4] [--no-peer]

Data: ../shared/bench/gen_data.py user_stats (users x snapshots rows, 5 features), backfilled
with `featurelake backfill` (a whole process, timed and printed, not the figure). A
redis-server of its own on loopback (no persistence), emptied before every run. Timed:
- `featurelake materialize user_stats --full --conf ...` as a subprocess, 3 runs: wall time
  from exec to exit (the figure), beside the in-process seconds the command prints;
- the same command over the values the last run left (every key exists: the writer reads
  and compares each stored header; 1 run);
- the same command with the latest-rows snapshot removed, so it regroups the whole table
  through Spark (what the Spark path costs, for comparison; 1 run).
Peer: Feast 0.67 `materialize` of the same view (Spark source, Redis online store, local[2])
in benchmarks/.venv-feast (benchmarks/setup_feast.sh), twice in one process: its warm rate
(the second run) is the figure issue #19 compares against.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_online import online_project
from bench_training_set import REPO_ROOT, generate

BIN = Path(sys.executable).parent


def featurelake(conf: Path, *argv: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "featurelake"), *argv, "--conf", str(conf)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"featurelake {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--snapshots", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    data = REPO_ROOT / "benchmarks" / "data" / f"pit-{args.users}-{args.snapshots}-1000"
    generate(data, args.users, args.snapshots, 1_000)

    import redis

    from featurelake.online.redis_server import free_port, start_redis_server

    base = Path(tempfile.mkdtemp(prefix="fl-bench-materialize-"))
    port = free_port()
    server = start_redis_server(base / "redis", port=port, appendonly=False)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        conf = online_project(base, data, port)
        seconds, _ = featurelake(conf, "backfill", "user_stats", "--start", "2024-12-31", "--end", "2025-07-20")
        rows = args.users * args.snapshots
        print(f"featurelake backfill user_stats ({rows:,} rows): {seconds:.1f}s (not the figure)")
        walls = []
        for run in range(args.runs):
            client.flushdb()
            wall, out = featurelake(conf, "materialize", "user_stats", "--full")
            walls.append(wall)
            entities, inside = _parse(out)
            print(f"featurelake materialize --full, whole process, run {run + 1}: {entities:,} entities in {wall:.2f}s "
                  f"= {entities / wall:,.0f} entities/s (in process {inside:.2f}s; {out.strip()})")  # fmt: skip
        median = statistics.median(walls)
        print(f"featurelake materialize --full, whole process, median of {args.runs}: {median:.2f}s = "
              f"{entities / median:,.0f} entities/s")  # fmt: skip
        wall, out = featurelake(conf, "materialize", "user_stats", "--full")  # every key already there
        print(f"featurelake materialize --full over the values already online, whole process: {wall:.2f}s = "
              f"{_parse(out)[0] / wall:,.0f} entities/s")  # fmt: skip
        shutil.rmtree(base / "lake" / "_latest")
        client.flushdb()
        wall, out = featurelake(conf, "materialize", "user_stats", "--full")
        print(f"featurelake materialize --full without the latest rows (Spark regroups the table), whole process: "
              f"{wall:.2f}s = {_parse(out)[0] / wall:,.0f} entities/s")  # fmt: skip
        peer = REPO_ROOT / "benchmarks" / ".venv-feast" / "bin" / "python"
        if not args.no_peer and peer.exists():
            client.flushall()
            subprocess.run([str(peer), str(REPO_ROOT / "benchmarks" / "peers" / "feast_online.py"), "--data", str(data),
                            "--redis", f"127.0.0.1:{port}", "--users", str(args.users), "--no-reads", "--repeat", "2"],
                           check=True)  # fmt: skip
    finally:
        client.close()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _parse(out: str) -> tuple[int, float]:
    found = re.search(r"([\d,]+) entities, [\d,]+ values written \(([\d.]+)s", out)
    if not found:
        raise SystemExit(f"unexpected output: {out}")
    return int(found.group(1).replace(",", "")), float(found.group(2))


if __name__ == "__main__":
    main()
