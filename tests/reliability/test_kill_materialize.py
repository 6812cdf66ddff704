"""`featurelake materialize` killed with SIGKILL (the CLI, its JVM and Python workers) at a
seeded random moment, then run again. After every kill: no online value is older than before
it, the watermark is never ahead of what Redis holds, and the similarity index pointer names a
complete version. After every rerun: Redis equals Delta's newest rows for 100% of entities and
the index is at the watermark's Delta version. Short form: one kill; `pytest --soak`: 20."""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import redis

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.demo_data import DatasetSize, generate
from featurelake.online.consistency import check_consistency
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.materialize import read_watermark
from featurelake.registry import apply_specs, load_registry
from featurelake.similarity import IndexCache

BIN = Path(sys.executable).parent
VIEW, FEATURE = "user_embedding", "behaviour_embedding"
pytestmark = pytest.mark.slow


def test_materialize_killed_at_random_points_never_regresses_and_a_rerun_repairs(
    spark,
    redis_server,
    make_test_conf,
    repo_root: Path,
    tmp_path: Path,
    soak: bool,
    kill_after,
    seed,
    headers,
    never_older,
) -> None:  # type: ignore[no-untyped-def]
    url = redis_server.url.replace("/0", "/3")  # a database of its own on the session's server
    conf = load_config(make_test_conf(tmp_path, url, tmp_path / "lake", project="flkillmat"), env={})
    generate(conf.lake_root, DatasetSize(users=400, products=20, days=8))
    apply_specs(repo_root / "feature_specs", conf)
    registry = load_registry(conf)
    client = redis.Redis.from_url(url)
    client.flushdb()
    view = registry.view(VIEW)
    prefix, mark_key = view_prefix(registry.project, VIEW, view.version), watermark_key(registry.project, VIEW, 1)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [str(BIN / "featurelake"), "materialize", VIEW, "--conf", str(conf.source_file)]
    rng = random.Random(f"{seed}-materialize")
    duration, killed = 15.0, 0
    for day in range(20 if soak else 1):
        # New Delta commits to materialize: one more day each round (the days repeat in the soak).
        backfill_view(spark, registry, VIEW, conf.lake_root, date(2025, 1, 1 + day % 8), date(2025, 1, 1 + day % 8))
        before_values, before_mark = headers(client, prefix), read_watermark(client, mark_key)
        if kill_after(command, rng.uniform(0.2 * duration, duration), env) is None:
            killed += 1
        after_values, after_mark = headers(client, prefix), read_watermark(client, mark_key)
        never_older(before_values, after_values)
        if after_mark != before_mark and after_mark is not None:  # it moved: everything was written first
            report = check_consistency(spark, conf, registry, VIEW, sample=None)
            assert report.consistent and after_mark.delta_version >= (before_mark.delta_version if before_mark else 0)
        live = IndexCache(conf.lake_root, tmp_path / "cache", refresh_s=0)
        try:  # the pointer names a whole version, or no version was ever published
            assert live.get(VIEW, 1, FEATURE).size > 0
        except Exception as exc:
            assert before_mark is None and "has been built yet" in str(exc), exc
        rerun = time.monotonic()
        assert kill_after(command, 600, env) == 0
        duration = time.monotonic() - rerun
        report = check_consistency(spark, conf, registry, VIEW, sample=None)
        assert report.consistent and report.checked > 0, report.mismatches[:3]
        final_mark = read_watermark(client, mark_key)
        assert final_mark is not None
        assert IndexCache(conf.lake_root, tmp_path / "cache2", 0).get(VIEW, 1, FEATURE).manifest.delta_version == (
            final_mark.delta_version
        )
    client.close()
    print(f"materialize {VIEW}: {killed} killed mid-run, every rerun consistent (last rerun {duration:.0f} s)")
