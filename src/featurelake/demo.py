"""`make demo`: the main job end to end on the configured environment.

What exists runs for real: a generated e-commerce dataset, the shipped specs applied,
every view backfilled into Delta through the validation gate (Great Expectations, Data
Docs), a labelled training set built point-in-time. The steps
still to come are named at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from featurelake.config import FeaturelakeConfig
from featurelake.demo_data import DEFAULT_SIZE, DatasetSize

Say = Callable[[str], object]

MISSING_STEPS = [
    "materialization into Redis + online reads in the demo (the commands exist: docs/online.md)",
    "model training (AUC) and the online/offline check",
]


def check_redis(conf: FeaturelakeConfig, say: Say) -> None:
    from featurelake.online.redis_server import ensure_redis

    client = ensure_redis(conf, say=say)
    key = f"{conf.project}:_demo:ping"
    client.set(key, "pong", ex=60)
    if client.get(key) != b"pong":
        raise RuntimeError("redis round trip returned something else")
    say(f"redis: round trip through {conf.redis.redacted_url()} ok")


def run_demo(conf: FeaturelakeConfig, repo: Path, size: DatasetSize = DEFAULT_SIZE, say: Say = print) -> None:
    from featurelake.compute.backfill import backfill_view
    from featurelake.demo_data import churn_labels, generate
    from featurelake.store import FeatureStore
    from featurelake.validation.context import ValidationPaths

    started = time.monotonic()
    say(f"featurelake demo on {conf.source_file} (lake at {conf.lake_root})")
    check_redis(conf, say)
    counts = generate(conf.lake_root, size)
    say("dataset: " + ", ".join(f"{name} {rows:,}" for name, rows in counts.items()))
    store = FeatureStore(repo=repo, conf=conf)
    version = store.apply()
    say(f"specs: {len(store.registry.views)} feature views applied (registry version {version or 'unchanged'})")
    start, end = size.start, size.start + timedelta(days=size.days - 1)
    paths = ValidationPaths.from_config(conf)
    for view in store.registry.views:
        result = backfill_view(store.spark, store.registry, view, conf.lake_root, start, end, True, paths)
        checks = result.validation
        say(
            f"backfill {view}: {result.days} days, {result.source_events:,} events -> {result.rows_written:,} rows; "
            f"validated ({len(checks.results)} checks, {len(checks.warnings)} warning(s))"
        )
    labels_path = Path(conf.lake_root) / "labels" / "churn.parquet"
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    churn_labels(size).to_parquet(labels_path, coerce_timestamps="us", allow_truncated_timestamps=True)
    output = f"{conf.lake_root.rstrip('/')}/training_sets/churn"
    info = store.build_training_set(str(labels_path), output, feature_service="churn_model", overwrite=True)
    say(f"training set: {info.output_rows:,} rows x {len(info.feature_refs)} features -> {output}")
    say(f"done in {time.monotonic() - started:.0f}s; feature tables under {conf.lake_root}/features")
    say(f"Data Docs (validation reports): {paths.data_docs_index}  (`featurelake reports --serve` serves them)")
    say("not built yet (see the open issues): " + "; ".join(MISSING_STEPS))
