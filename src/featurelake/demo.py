"""`make demo`: the main job end to end on the configured environment.

A generated e-commerce dataset; the shipped specs applied; the last two thirds of the
days backfilled into Delta through the validation gate (Great Expectations, Data Docs);
the online views materialized into Redis; a labelled churn training set built with
spark-submit; a logistic regression trained on it (its AUC on later labels); and the
same users' features read online and compared with the newest offline rows. Rerunning it
is safe: every step replaces what it wrote.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from featurelake.config import FeaturelakeConfig
from featurelake.demo_data import DEMO_SIZE, SOURCES, DatasetSize
from featurelake.errors import FeaturelakeError

if TYPE_CHECKING:
    from featurelake.store import FeatureStore

Say = Callable[[str], object]
SERVICE = "churn_model"
CHECKED_ENTITIES = 1_000
LABELS = 20_000


class DemoStepError(FeaturelakeError):
    template = "demo step {step!r} failed: {detail}"


@dataclass(frozen=True)
class ModelScore:
    auc: float
    train_rows: int
    test_rows: int
    positives: float


def check_redis(conf: FeaturelakeConfig, say: Say) -> None:
    from featurelake.online.redis_server import ensure_redis

    client = ensure_redis(conf, say=say)
    key = f"{conf.project}:_demo:ping"
    client.set(key, "pong", ex=60)
    if client.get(key) != b"pong":
        raise DemoStepError(step="redis", detail="the round trip returned something else")
    say(f"redis: round trip through {conf.redis.redacted_url()} ok")


def backfill_days(size: DatasetSize) -> int:
    """The last two thirds of the dataset: the first third is history for the windows."""
    return max(1, size.days * 2 // 3)


def build_training_set_with_spark_submit(
    conf: FeaturelakeConfig, jobs_dir: Path, labels: Path, output: str, say: Say
) -> None:
    from featurelake.spark.session import spark_submit_command, spark_submit_environment

    job = jobs_dir / "build_training_set.py"
    if not job.is_file():
        raise DemoStepError(step="training set", detail=f"{job} not found; pass --jobs (the project's jobs/ folder)")
    args = ["--labels", str(labels), "--feature-service", SERVICE, "--output", output, "--overwrite",
            "--conf", str(conf.source_file)]  # fmt: skip
    command = spark_submit_command(conf, job, args)
    say(f"training set: spark-submit {job} {' '.join(args)}")
    proc = subprocess.run(command, capture_output=True, text=True, check=False, env=spark_submit_environment(conf))
    if proc.returncode != 0:
        detail = f"spark-submit exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        raise DemoStepError(step="training set", detail=detail)
    for line in proc.stdout.strip().splitlines()[-2:]:
        say(f"  {line}")


def train_churn_model(training_set: str, features: list[str]) -> ModelScore:
    """Logistic regression on the earlier 75% of label times, AUC on the later 25%."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_parquet(training_set).sort_values("event_timestamp", kind="stable")
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    cut = int(len(frame) * 0.75)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    fill = train[numeric].median()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000))
    model.fit(train[numeric].fillna(fill), train["churned"])
    scores = model.predict_proba(test[numeric].fillna(fill))[:, 1]
    auc = float(roc_auc_score(test["churned"], scores))
    return ModelScore(auc, len(train), len(test), float(frame["churned"].mean()))


SIMILAR_FEATURE = "user_embedding:behaviour_embedding"


def run_demo(
    conf: FeaturelakeConfig,
    repo: Path,
    size: DatasetSize = DEMO_SIZE,
    say: Say = print,
    jobs_dir: Path = Path("jobs"),
) -> ModelScore:
    from featurelake.demo_data import churn_labels, generate
    from featurelake.store import FeatureStore
    from featurelake.validation.context import ValidationPaths

    started = time.monotonic()
    say(f"featurelake demo on {conf.source_file} (lake at {conf.lake_root})")
    check_redis(conf, say)
    say(f"dataset: generating {size.users:,} users x {size.days} days ...")
    store = FeatureStore(repo=repo, conf=conf)
    version = store.apply()
    say(f"specs: {len(store.registry.views)} feature views applied (registry version {version or 'unchanged'})")
    # Each view is backfilled as soon as its source is written: Spark starts and the first
    # views run while the rest of the dataset is still being generated.
    with ThreadPoolExecutor(1, thread_name_prefix="demo-dataset") as pool:
        sources = _SourcesWritten()
        generating = pool.submit(generate, conf.lake_root, size, None, sources.mark)
        _backfill_all(store, conf, size, say, lambda source: sources.wait(source, generating))
        counts = generating.result()
    say("dataset: " + ", ".join(f"{name} {rows:,}" for name, rows in counts.items()))
    _materialize_online(store, say)
    labels_path = Path(conf.lake_root) / "labels" / "churn.parquet"
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    labels = churn_labels(size, n=LABELS)
    labels.to_parquet(labels_path, coerce_timestamps="us", allow_truncated_timestamps=True)
    output = f"{conf.lake_root.rstrip('/')}/training_sets/churn"
    build_training_set_with_spark_submit(conf, jobs_dir, labels_path, output, say)
    features = [ref.feature for ref in store.registry.service_refs(SERVICE)]
    score = train_churn_model(output, features)
    say(f"model: logistic regression on {len(features)} features, {score.train_rows:,} earlier labels -> "
        f"AUC {score.auc:.3f} on {score.test_rows:,} later labels (churn rate {score.positives:.1%})")  # fmt: skip
    # The user of the latest label: one whose features the model just used.
    latest_user = int(labels.sort_values("event_timestamp").user_id.iloc[-1])
    checked = _online_offline_check(store, conf, say, latest_user)
    _similar_users(store, say, latest_user)
    paths = ValidationPaths.from_config(conf)
    say(f"done in {time.monotonic() - started:.0f}s")
    say(f"  Delta feature tables: {conf.lake_root}/features/")
    say(f"  Data Docs (validation reports): {paths.data_docs_index}  (`featurelake reports --serve`)")
    say(f"  training set: {output} (+ {output}.metadata.json)")
    say(f"  online store: {conf.redis.redacted_url()}, {checked:,} entities checked against Delta")
    return score


class _SourcesWritten:
    """Which raw sources the generator has finished, for backfills waiting on them."""

    def __init__(self) -> None:
        self._done: dict[str, threading.Event] = {name: threading.Event() for name in SOURCES}

    def mark(self, name: str) -> None:
        self._done[name].set()

    def wait(self, name: str, generating: Future[dict[str, int]]) -> None:
        if name not in self._done:  # not one the generator writes (a changed spec): all of them
            generating.result()
            return
        while not self._done[name].wait(0.2):
            if generating.done():
                generating.result()  # raises what the generator raised
                raise DemoStepError(step="dataset", detail=f"the generator finished without writing {name}")


def _generation_order(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else len(SOURCES)


def _backfill_all(
    store: FeatureStore, conf: FeaturelakeConfig, size: DatasetSize, say: Say, source_ready: Callable[[str], None]
) -> None:
    from featurelake.compute.backfill import backfill_view
    from featurelake.validation.context import ValidationPaths

    end = size.start + timedelta(days=size.days - 1)
    start = end - timedelta(days=backfill_days(size) - 1)
    paths = ValidationPaths.from_config(conf)
    raw = {name: store.registry.sources[store.registry.views[name].source].path.rstrip("/").rsplit("/", 1)[-1]
           for name in store.registry.views}  # fmt: skip
    for view in sorted(store.registry.views, key=lambda name: _generation_order(raw[name])):
        source_ready(raw[view])
        result = backfill_view(store.spark, store.registry, view, conf.lake_root, start, end, True, paths, conf.lease)
        checks = result.validation
        say(
            f"backfill {view}: {result.days} days {start}..{end}, {result.source_events:,} events -> "
            f"{result.rows_written:,} rows in {result.seconds:.0f}s; validated ({len(checks.results)} checks, "
            f"{len(checks.warnings)} warning(s))"
        )
        for warning in checks.warnings:  # never blocking, but worth a look
            say(warning.line())


def _similar_users(store: FeatureStore, say: Say, user: int) -> None:
    """The users whose behaviour embedding is nearest to `user`'s, from the similarity index."""
    from featurelake.similarity import EntityNotIndexedError

    try:
        found = store.find_similar(SIMILAR_FEATURE, entity={"user_id": user}, k=5, features=["user_stats:spend_30d"])
    except EntityNotIndexedError:  # the user's embedding is past the view's ttl
        say(f"similar users: user {user} has no live embedding")
        return
    nearest = ", ".join(f"{n.entity['user_id']} ({1 - n.distance:.3f})" for n in found.neighbours)
    say(f"similar users to {user} by {SIMILAR_FEATURE} (cosine similarity), index {found.index_id}: {nearest}")


def _materialize_online(store: FeatureStore, say: Say) -> None:
    from featurelake.compute.progress import spark_progress

    # The dataset was generated anew: the online values are rebuilt from scratch too.
    for name, view in store.registry.views.items():
        if view.online:
            with spark_progress(store.spark, f"{name}: materializing into Redis"):
                result = store.materialize(name, reset=True)
            say(f"materialize {name} (full): {result.entities:,} entities into Redis in {result.seconds:.1f}s")
            for index in result.indexes:
                say(f"  similarity index {index.ref}: {index.entities:,} live entities, recall@10 self-check "
                    f"{index.recall_check.get('recall', 1.0):.3f}, built in {index.build_seconds:.1f}s")  # fmt: skip


def _online_offline_check(store: FeatureStore, conf: FeaturelakeConfig, say: Say, user: int) -> int:
    """Redis must serve exactly the newest Delta row of each sampled entity, every online view."""
    from featurelake.online.consistency import check_consistency

    checked = 0
    for name, view in store.registry.views.items():
        if not view.online:
            continue
        report = check_consistency(store.spark, conf, store.registry, name, CHECKED_ENTITIES)
        if not report.consistent:
            raise DemoStepError(step="online/offline check", detail=report.summary())
        checked += report.checked
    online = store.get_online_features(
        ["user_stats:spend_30d", "user_orders:orders_7d", "user_embedding:behaviour_embedding"], [{"user_id": user}]
    ).to_dict()
    vector = online["behaviour_embedding"][0]
    shown = (
        "none" if vector is None else f"float32[{len(vector)}] starting {vector[:3].astype(float).round(3).tolist()}"
    )
    say(f"online/offline check: {checked:,} entities across the online views served exactly their newest Delta row")
    say(f"  user {user} online: spend_30d={online['spend_30d'][0]}, orders_7d={online['orders_7d'][0]}, "
        f"behaviour_embedding={shown}")  # fmt: skip
    return checked
