"""Similarity search end to end: backfill into Delta, materialize into a real Redis, the index
built at the same Delta version, queried from Python, Spark and the CLI.

The oracle is pandas over the raw events: the latest row per user at each Delta version,
live when not past the ttl (counted back from the newest row) and holding a vector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.registry import apply_specs
from featurelake.similarity import FilterError, VectorError
from featurelake.similarity.build import exact_top_k
from featurelake.store import FeatureStore

BIN = Path(sys.executable).parent
DIM, USERS = 8, 600
START = pd.Timestamp("2025-03-01", tz="UTC")
SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: taste_events
    format: parquet
    path: raw/taste
    timestamp: ts
    columns: {user_id: int64, ts: timestamp, embedding: array<float>, segment: string}
feature_view:
  name: taste
  version: 1
  entity: user
  source: taste_events
  owner: recsys
  ttl: 3d
  online: true
  features:
    - {name: vec, dtype: embedding, dim: 8, expression: embedding, index: {metric: cosine}}
    - {name: segment, dtype: string}
"""


def events(seed: int = 0) -> pd.DataFrame:
    """Users in 30 clusters; some went quiet early (past the ttl), some rows have null vectors,
    rows arrive out of order, some are exact duplicates."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(30, DIM))
    rows = []
    for user in range(USERS):
        quiet = user % 10 == 0  # only the first four days
        for _ in range(int(rng.integers(1, 5))):
            day = int(rng.integers(0, 4 if quiet else 10))
            vector = centers[user % 30] + 0.25 * rng.normal(size=DIM)
            rows.append({"user_id": user, "ts": START + pd.Timedelta(days=day, seconds=int(rng.integers(0, 86_400))),
                         "embedding": None if rng.random() < 0.03 else vector.astype(np.float32).tolist(),
                         "segment": "rare" if user % 37 == 0 else "common"})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame = pd.concat([frame, frame.sample(frac=0.05, random_state=seed)])  # exact duplicates
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def live_oracle(frame: pd.DataFrame) -> pd.DataFrame:
    latest = frame.sort_values("ts").groupby("user_id").tail(1)
    live = latest[(latest.ts >= frame.ts.max() - pd.Timedelta(days=3)) & latest.embedding.notna()]
    return live.set_index("user_id").sort_index()


def write_source(lake: Path, frame: pd.DataFrame) -> None:
    folder = lake / "raw" / "taste"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    frame.to_parquet(folder / "part-0.parquet", index=False, coerce_timestamps="us", allow_truncated_timestamps=True)


@pytest.fixture(scope="module")
def taste_store(tmp_path_factory, make_test_conf, redis_server, spark):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("similarity")
    repo = base / "specs"
    repo.mkdir()
    (repo / "taste.yaml").write_text(SPEC)
    conf = load_config(make_test_conf(base, redis_server.url, base / "lake", project="flsim"), env={})
    frame = events()
    write_source(Path(conf.lake_root), frame)
    apply_specs(repo, conf)
    store = FeatureStore(repo=repo, conf=conf, spark=spark)
    backfill_view(spark, store.registry, "taste", conf.lake_root, date(2025, 3, 1), date(2025, 3, 10))
    store.materialize("taste", full=True, reset=True)
    store.indexes.refresh_s = 0.0  # the test publishes new versions and wants them at once
    return store, frame, base


def indexed_users(store: FeatureStore) -> list[int]:
    index = store.indexes.get("taste", 1, "vec")
    return [e["user_id"] for e in index.entities(np.arange(index.size))]


def test_the_index_holds_exactly_the_live_rows_of_its_delta_version(taste_store) -> None:  # type: ignore[no-untyped-def]
    store, frame, _ = taste_store
    from delta.tables import DeltaTable

    from featurelake.offline.tables import table_path

    index = store.indexes.get("taste", 1, "vec")
    version = DeltaTable.forPath(store.spark, table_path(store.config.lake_root, store.registry.view("taste")))
    assert index.manifest.delta_version == version.history(1).collect()[0]["version"]
    live = live_oracle(frame)
    assert sorted(indexed_users(store)) == live.index.tolist()
    assert index.manifest.skipped["past_ttl"] > 0 and index.manifest.skipped["null"] > 0
    data = np.stack(live.embedding.map(np.asarray).to_numpy()).astype(np.float32)
    queries = data[::7] + 0.05
    truth = live.index.to_numpy()[exact_top_k(data, queries, 10, "cosine")]
    hits = 0
    for query, expected in zip(queries, truth, strict=True):
        answer = store.find_similar("taste:vec", vector=query.tolist(), k=10)
        hits += len({n.entity["user_id"] for n in answer.neighbours} & set(expected.tolist()))
    assert hits / truth.size >= 0.95


def test_features_and_filters_read_the_online_store(taste_store) -> None:  # type: ignore[no-untyped-def]
    store, frame, _ = taste_store
    user = int(live_oracle(frame).index[5])
    answer = store.find_similar("taste:vec", entity={"user_id": user}, k=8, features=["taste:segment", "taste:vec"])
    ids = [n.entity for n in answer.neighbours]
    online = store.get_online_features(["taste:segment"], ids).to_dict()
    assert [n.features["segment"] for n in answer.neighbours] == online["segment"]
    assert all(len(n.features["vec"]) == DIM for n in answer.neighbours) and {"user_id": user} not in ids
    live = live_oracle(frame)
    rare = live[live.segment == "rare"].index.tolist()
    answer = store.find_similar("taste:vec", entity={"user_id": user}, k=10, filter={"taste:segment": "rare"})
    got = [n.entity["user_id"] for n in answer.neighbours]
    assert len(got) == min(10, len(set(rare) - {user})) and set(got) <= set(rare)
    with pytest.raises(FilterError):
        store.find_similar("taste:vec", entity={"user_id": user}, filter={"taste:segment": {"between": [1, 2]}})
    with pytest.raises(VectorError, match="dim is 8"):
        store.find_similar("taste:vec", vector=[0.1] * 3)


def test_batch_queries_equal_one_by_one(taste_store) -> None:  # type: ignore[no-untyped-def]
    store, frame, _ = taste_store
    users = [*live_oracle(frame).index[:12].tolist(), 99_999]
    rows = store.find_similar_batch(store.spark.createDataFrame([(u,) for u in users], "user_id long"), "taste:vec", 5)
    got = rows.toPandas()
    missing = got[got.user_id == 99_999]
    assert len(missing) == 1 and "not in the index" in missing.problem.iloc[0]
    for user in users[:-1]:
        mine = got[got.user_id == user].sort_values("neighbour_rank")
        single = store.find_similar("taste:vec", entity={"user_id": user}, k=5)
        assert mine.neighbour_user_id.tolist() == [n.entity["user_id"] for n in single.neighbours]
        assert set(mine.index_id) == {single.index_id}
    vectors = store.spark.createDataFrame([(1, [0.5] * DIM), (2, [0.0] * DIM)], "qid int, vector array<float>")
    answered = vectors.transform(lambda q: store.find_similar_batch(q, "taste:vec", 3)).toPandas()
    assert (
        len(answered[answered.qid == 1]) == 3 and answered[answered.qid == 2].problem.iloc[0] == "vector is all zeros"
    )


def test_a_republished_day_gives_a_new_version_without_the_deleted_rows(taste_store) -> None:  # type: ignore[no-untyped-def]
    store, frame, _ = taste_store
    before = store.indexes.get("taste", 1, "vec").manifest
    last_day = frame.ts >= START + pd.Timedelta(days=9)
    dropped = frame[last_day].user_id.drop_duplicates().head(40).tolist()
    changed = frame[~(last_day & frame.user_id.isin(dropped))]
    write_source(Path(store.config.lake_root), changed)
    backfill_view(store.spark, store.registry, "taste", store.config.lake_root, date(2025, 3, 10), date(2025, 3, 10))
    result = store.materialize("taste")
    assert [m.index_id for m in result.indexes] and result.indexes[0].delta_version > before.delta_version
    after = store.indexes.get("taste", 1, "vec").manifest
    assert after.index_id == result.indexes[0].index_id != before.index_id
    assert sorted(indexed_users(store)) == live_oracle(changed).index.tolist()
    assert store.materialize("taste").indexes == []  # nothing new: the live version stays


def test_cli_answers_json_and_rejects_bad_input(taste_store) -> None:  # type: ignore[no-untyped-def]
    store, _, base = taste_store
    conf = str(base / "conf" / "test.yaml")
    user = indexed_users(store)[3]  # whatever version is live (an earlier test republished a day)
    command = [BIN / "featurelake", "similar", "taste:vec", "--entity", f"user_id={user}", "-k", "4",
               "--features", "taste:segment", "--conf", conf]  # fmt: skip
    ok = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    answer = json.loads(ok.stdout)
    assert (
        len(answer["neighbours"]) == 4 and answer["index_id"] == store.indexes.get("taste", 1, "vec").manifest.index_id
    )
    assert all("segment" in n["features"] for n in answer["neighbours"])
    bad = subprocess.run([BIN / "featurelake", "similar", "taste:vec", "--vector", "[1, 2]", "--conf", conf],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1 and "dim is 8" in bad.stderr and "Traceback" not in bad.stderr
