"""The feature server under load: wrk against `featurelake serve` and `feast serve`, same run.

    .venv/bin/python benchmarks/bench_serve.py [--users 200000 --snapshots 2 --workers 2 --seconds 15] [--no-peer]

Data: ../shared/bench/gen_data.py user_stats (users x snapshots rows, 5 features), backfilled
through the validation gate and materialized (`materialize --full`) into a redis-server of its
own on loopback (db 0; Feast's copy in db 1). Not timed. Then, with Spark stopped:
- `featurelake serve --workers N` with its defaults (access log on, metrics on), started as a
  user starts it; wrk (Debian's package, 2 threads, on the same 2 cores) sends POST
  /get-online-features for 5 features of one random user, 16 then 64 connections;
- `feast serve` (Feast 0.67, its defaults: one worker) over the same data and the same
  request body, when benchmarks/.venv-feast exists (benchmarks/setup_feast.sh).
Prints requests/s, p50, p99 and errors (socket errors + non-2xx) per run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from bench_online import online_project
from bench_training_set import FEATURES, REPO_ROOT, generate

STATS = FEATURES[:5]
BIN = Path(sys.executable).parent
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(7)
request = function()
  local body = '{"features": %s, "entities": {"user_id": [' .. math.random(0, %d) .. ']}}'
  return wrk.format(nil, "/get-online-features", nil, body)
end
"""


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} not ready")


def wrk(port: int, script: Path, connections: int, seconds: int) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
            f"http://127.0.0.1:{port}"]  # fmt: skip
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load(name: str, port: int, script: Path, seconds: int) -> None:
    wrk(port, script, 16, 3)  # warm-up: connections, plans, JIT-free Python caches
    for connections in (16, 64):
        r = wrk(port, script, connections, seconds)
        print(f"{name}, {connections} connections, {seconds}s: {r['rps']:,.0f} requests/s, p50 {r['p50']:.2f} ms, "
              f"p99 {r['p99']:.2f} ms, errors {r['errors']:.0f}", flush=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--snapshots", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    data = REPO_ROOT / "benchmarks" / "data" / f"pit-{args.users}-{args.snapshots}-1000000"
    generate(data, args.users, args.snapshots, 1_000_000)

    from featurelake.compute.backfill import backfill_view
    from featurelake.config import load_config
    from featurelake.online.materialize import materialize_view
    from featurelake.online.redis_server import free_port, start_redis_server
    from featurelake.registry import load_registry
    from featurelake.spark.session import build_spark_session

    base = Path(tempfile.mkdtemp(prefix="fl-bench-serve-"))
    redis_port = free_port()
    server = start_redis_server(base / "redis", port=redis_port, appendonly=False)
    try:
        conf_path = online_project(base, data, redis_port)
        conf = load_config(conf_path)
        spark = build_spark_session(conf, app_name="bench-serve")
        spark.sparkContext.setLogLevel("ERROR")
        registry = load_registry(conf)
        backfill_view(spark, registry, "user_stats", conf.lake_root, date(2024, 12, 31), date(2025, 7, 20))
        result = materialize_view(spark, conf, registry, "user_stats", full=True)
        print(f"setup: {result.entities:,} entities of user_stats in Redis", flush=True)
        spark.stop()
        script = base / "request.lua"
        script.write_text(LUA % (json.dumps(STATS), args.users - 1))

        port = free_port()
        argv = [str(BIN / "featurelake"), "serve", "--port", str(port), "--workers", str(args.workers),
                "--conf", str(conf_path)]  # fmt: skip
        proc = subprocess.Popen(argv, cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/ready", proc)
            load(f"featurelake serve --workers {args.workers}", port, script, args.seconds)
        finally:
            stop(proc)

        peer = REPO_ROOT / "benchmarks" / ".venv-feast" / "bin"
        if not args.no_peer and (peer / "python").exists():
            repo = base / "feast-repo"
            subprocess.run([str(peer / "python"), str(REPO_ROOT / "benchmarks" / "peers" / "feast_online.py"),
                            "--data", str(data), "--redis", f"127.0.0.1:{redis_port}", "--users", str(args.users),
                            "--repo", str(repo), "--no-reads"], check=True)  # fmt: skip
            port = free_port()
            env = {**os.environ, "PATH": f"{peer}{os.pathsep}{os.environ['PATH']}"}
            proc = subprocess.Popen([str(peer / "feast"), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                wait_ready(f"http://127.0.0.1:{port}/health", proc)
                load("feast serve (0.67, defaults)", port, script, args.seconds)
            finally:
                stop(proc)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
