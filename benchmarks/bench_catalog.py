"""The feature catalog's answer times with the 200-view repo, as a person uses it: HTTP
requests to a running `featurelake ui` process (uvicorn), after its first request.

    .venv/bin/python benchmarks/bench_catalog.py [--views 200] [--days 10]

The generated repo of bench_validate.py (200 views, 5 features each) is applied to a scratch
lake with the demo's generated sources; view_000 is then backfilled one day at a time through
the validation gate (one Delta commit, gate record and statistics file per day), materialized
into a redis-server started here, checked for consistency and used in a training set, so its
page shows every section filled. Prints the median and p95 of 40 requests per page, and the
process's start to its first answer. Target: each page under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from bench_validate import generated_repo

from featurelake import FeatureStore
from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.demo_data import DatasetSize, generate
from featurelake.online.consistency import check_consistency
from featurelake.online.materialize import materialize_view
from featurelake.online.redis_server import free_port, start_redis_server
from featurelake.registry import apply_specs, load_registry
from featurelake.spark.session import build_spark_session
from featurelake.validation.context import ValidationPaths

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "search page, every view": "/",
    "search page, query + filter": "/?q=spend&owner=team_3",
    "view page with 10 days of records": "/views/view_000",
    "view page, nothing published": "/views/view_199",
    "search JSON": "/api/views?q=channel",
    "quality JSON": "/api/views/view_000/quality",
}


def fill_one_view(conf_path: Path, days: int) -> None:
    conf = load_config(conf_path, env={})
    spark = build_spark_session(conf, app_name="bench-catalog")
    spark.sparkContext.setLogLevel("ERROR")
    registry = load_registry(conf)
    first = date(2025, 1, 2)
    for day in (first + timedelta(days=i) for i in range(days)):
        backfill_view(
            spark, registry, "view_000", conf.lake_root, day, day, validation=ValidationPaths.from_config(conf)
        )
    materialize_view(spark, conf, registry, "view_000", full=True)
    check_consistency(spark, conf, registry, "view_000", sample=None)
    labels = pd.DataFrame({"user_id": range(100), "event_timestamp": pd.Timestamp(first + timedelta(days=days))})
    FeatureStore(conf=conf, spark=spark).build_training_set(labels, str(conf_path.parent.parent / "training" / "churn"),
                                                            ["view_000:spend_30d", "view_000:orders_7d"])  # fmt: skip
    spark.stop()


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
        assert answer.status == 200, url
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        redis = start_redis_server(base / "redis", port=free_port())
        (base / "conf").mkdir()
        conf_path = base / "conf" / "bench.yaml"
        conf_path.write_text(f"project: bench\nlake_root: {base / 'lake'}\nstate_dir: {base / 'state'}\n"
                             f"web_assets_dir: {REPO_ROOT / '.featurelake' / 'web-assets'}\n"
                             f"spark:\n  master: local[2]\n  jars_dir: {REPO_ROOT / '.featurelake' / 'jars'}\n"
                             f"redis:\n  url: {redis.url}\n  embedded: false\n")  # fmt: skip
        generate(str(base / "lake"), DatasetSize(users=2000, products=50, days=args.days + 2))
        apply_specs(generated_repo(base, args.views), load_config(conf_path, env={}))
        fill_one_view(conf_path, args.days)
        port = free_port()
        started = time.perf_counter()
        ui = subprocess.Popen([str(BIN / "featurelake"), "ui", "--port", str(port), "--conf", str(conf_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            root = f"http://127.0.0.1:{port}"
            while True:
                try:
                    first_ms = timed_get(root + "/")
                    break
                except OSError:
                    time.sleep(0.05)
            ready_s = time.perf_counter() - started
            print(f"featurelake ui, {args.views} views: start to first page {ready_s:.2f} s "
                  f"(that first search page itself {first_ms:.0f} ms)")  # fmt: skip
            with urllib.request.urlopen(root + "/api/views/view_000/quality", timeout=30) as answer:
                runs = json.loads(answer.read())["runs"]
            with urllib.request.urlopen(root + "/api/views/view_000/lineage", timeout=30) as answer:
                kinds = {n["kind"] for n in json.loads(answer.read())["nodes"]}
            assert len(runs) == args.days and "training_set" in kinds, (runs, kinds)  # the page is full
            for what, path in PAGES.items():
                times = sorted(timed_get(root + path) for _ in range(40))
                p95 = times[int(0.95 * len(times)) - 1]
                print(f"  {what:<36} {path:<30} median {statistics.median(times):6.1f} ms, p95 {p95:6.1f} ms")
        finally:
            ui.terminate()
            ui.wait(timeout=20)
            redis.stop()


if __name__ == "__main__":
    main()
