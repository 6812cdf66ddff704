"""Similarity indexes without Spark: build from arrays, publish into a lake folder, query.

Oracles are brute force (numpy / pandas) on clustered random data with the nasty rows:
null, NaN and zero vectors, rows exactly at and just past the ttl, ties in distance.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from featurelake.registry.compile import compile_repo
from featurelake.registry.model import FeatureRef, Registry
from featurelake.similarity import (
    MAX_K,
    EntityNotIndexedError,
    FilterError,
    IndexCache,
    IndexNotBuiltError,
    IndexNotDeclaredError,
    KOutOfRangeError,
    QueryShapeError,
    VectorError,
    find_similar,
    indexed_feature,
)
from featurelake.similarity.build import build_index, exact_top_k, new_index_id
from featurelake.similarity.files import index_root, prune, publish
from featurelake.storage import storage_for

DIM, TTL_S = 16, 7 * 86400
NOW_US = 1_760_000_000_000_000
SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
  - {name: item, join_keys: [item_id]}
sources:
  - {name: events, format: parquet, path: raw/events, timestamp: ts}
feature_view:
  name: taste
  version: 1
  entity: user
  source: events
  owner: test
  ttl: 7d
  online: true
  features:
    - {name: vec, dtype: embedding, dim: 16, index: {metric: cosine}}
    - {name: plain, dtype: embedding, dim: 16}
    - {name: segment, dtype: string}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    repo = tmp_path_factory.mktemp("repo")
    (repo / "taste.yaml").write_text(SPEC)
    return compile_repo(repo, "fltest")


def clustered(n: int, seed: int, clusters: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, DIM))
    return (centers[rng.integers(0, clusters, n)] + 0.3 * rng.normal(size=(n, DIM))).astype(np.float32)


def nasty_rows(n: int, seed: int, first_user: int = 0) -> dict[str, Any]:
    """Users first_user.., with vectors, event times and the rows that must not be indexed."""
    rng = np.random.default_rng(seed)
    vectors = clustered(n, seed)
    present = np.ones(n, dtype=bool)
    event_us = NOW_US - rng.integers(0, TTL_S // 2, n) * 1_000_000
    event_us[0] = NOW_US  # the newest row: the ttl counts back from it
    event_us[1] = NOW_US - TTL_S * 1_000_000  # exactly ttl old: live
    event_us[2] = NOW_US - TTL_S * 1_000_000 - 1  # 1 µs past: not live
    present[3] = False  # null vector
    vectors[4, 5] = np.nan
    vectors[5] = 0.0  # no direction for cosine
    vectors[7] = vectors[6]  # a distance tie
    return {"user_id": list(range(first_user, first_user + n)), "vectors": vectors, "present": present,
            "event_us": event_us}  # fmt: skip


def live_mask(rows: dict[str, Any]) -> np.ndarray:
    v = rows["vectors"]
    return (rows["present"] & np.isfinite(v).all(axis=1) & np.any(v != 0, axis=1)
            & (rows["event_us"] >= rows["event_us"].max() - TTL_S * 1_000_000))  # fmt: skip


def publish_rows(registry: Registry, lake: Path, rows: dict[str, Any], delta_version: int) -> str:
    _, spec = indexed_feature(registry, "taste:vec")
    root = index_root(str(lake), "taste", 1, "vec")
    index_id = new_index_id(delta_version)
    folder = lake / "_indexes" / "taste" / "v1" / "vec" / index_id
    manifest = build_index("taste:vec", spec, {"user_id": rows["user_id"]}, rows["vectors"], rows["present"],
                           rows["event_us"], delta_version, 1, TTL_S, folder, index_id)  # fmt: skip
    publish(root, folder, manifest)
    return index_id


def test_recall_against_exact_search_and_only_live_entities(registry: Registry, tmp_path: Path) -> None:
    rows = nasty_rows(6000, seed=1)
    index_id = publish_rows(registry, tmp_path, rows, delta_version=3)
    index = IndexCache(str(tmp_path), tmp_path / "cache").get("taste", 1, "vec")
    m = index.manifest
    live = live_mask(rows)
    assert m.index_id == index_id and m.delta_version == 3 and m.entities == int(live.sum())
    assert m.skipped == {"null": 1, "not_finite": 1, "zero_vector": 1, "past_ttl": 1}
    assert m.recall_check["recall"] >= 0.95
    live_ids = np.flatnonzero(live)
    data = rows["vectors"][live_ids]
    queries = clustered(300, seed=9)
    exact = live_ids[exact_top_k(data, queries, 10, "cosine")]
    hits = 0
    for query, truth in zip(queries, exact, strict=True):
        answer = find_similar(index, registry, "taste:vec", vector=query.tolist(), k=10)
        got = [n.entity["user_id"] for n in answer.neighbours]
        assert len(got) == 10 and set(got) <= set(live_ids.tolist()) and answer.index_id == index_id
        assert [n.distance for n in answer.neighbours] == sorted(n.distance for n in answer.neighbours)
        hits += len(set(got) & set(truth.tolist()))
    assert hits / (10 * len(queries)) >= 0.95
    for user in (1, 6):  # exactly ttl old is live; a tie partner is found, the user itself is not
        answer = find_similar(index, registry, "taste:vec", entity={"user_id": user}, k=5)
        ids = [n.entity["user_id"] for n in answer.neighbours]
        assert user not in ids and len(ids) == 5
    assert find_similar(index, registry, "taste:vec", entity={"user_id": 6}, k=1).neighbours[0].entity == {"user_id": 7}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"vector": [0.1] * (DIM - 1)}, VectorError),
        ({"vector": [0.1] * (DIM - 1) + [float("nan")]}, VectorError),
        ({"vector": [0.1] * (DIM - 1) + [float("inf")]}, VectorError),
        ({"vector": [1e39] * DIM}, VectorError),
        ({"vector": [0.0] * DIM}, VectorError),
        ({"vector": ["a"] * DIM}, VectorError),
        ({"vector": [0.1] * DIM, "k": 0}, KOutOfRangeError),
        ({"vector": [0.1] * DIM, "k": MAX_K + 1}, KOutOfRangeError),
        ({"vector": [0.1] * DIM, "entity": {"user_id": 9}}, QueryShapeError),
        ({}, QueryShapeError),
        ({"entity": {"item_id": 9}}, QueryShapeError),
        ({"entity": {"user_id": 2}}, EntityNotIndexedError),  # past ttl
        ({"entity": {"user_id": 123456}}, EntityNotIndexedError),
        ({"vector": [0.1] * DIM, "filter": {"taste:nope": 1}}, FilterError),
        ({"vector": [0.1] * DIM, "filter": {"taste:segment": {"like": "a"}}}, FilterError),
        ({"vector": [0.1] * DIM, "filter": {"taste:segment": {"in": "a"}}}, FilterError),
        ({"vector": [0.1] * DIM, "filter": {"taste:segment": {"gt": None}}}, FilterError),
    ],
)
def test_bad_queries_are_typed_errors(registry: Registry, tmp_path: Path, query: dict[str, Any], error: type) -> None:
    publish_rows(registry, tmp_path, nasty_rows(300, seed=2), delta_version=1)
    index = IndexCache(str(tmp_path), tmp_path / "cache").get("taste", 1, "vec")
    with pytest.raises(error) as raised:
        find_similar(index, registry, "taste:vec", fetch=lambda refs, rows: {}, **query)
    assert "taste:vec" in str(raised.value) or "user_id" in str(raised.value)


def test_a_feature_without_index_or_never_built(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(IndexNotDeclaredError, match="taste:plain has no similarity index"):
        indexed_feature(registry, "taste:plain")
    with pytest.raises(IndexNotBuiltError, match="featurelake materialize taste"):
        IndexCache(str(tmp_path), tmp_path / "cache").get("taste", 1, "vec")


def test_a_filter_returns_k_whenever_k_entities_match(registry: Registry, tmp_path: Path) -> None:
    """Against brute force over the matching live entities, for rare and common filters."""
    rows = nasty_rows(4000, seed=3)
    publish_rows(registry, tmp_path, rows, delta_version=1)
    index = IndexCache(str(tmp_path), tmp_path / "cache").get("taste", 1, "vec")
    rng = np.random.default_rng(4)
    segments = rng.choice(["common", "rare", "tiny"], size=4000, p=[0.9, 0.097, 0.003])
    fetched: list[int] = []

    def fetch(refs: list[FeatureRef], entities: list[dict[str, Any]]) -> dict[str, list[Any]]:
        fetched.append(len(entities))  # the online store's answer, from the same table
        return {"taste__segment": [str(segments[e["user_id"]]) for e in entities]}

    live = live_mask(rows)
    for segment in ("common", "rare", "tiny"):
        matching = np.flatnonzero(live & (segments == segment))
        for query in clustered(5, seed=5):
            answer = find_similar(index, registry, "taste:vec", vector=query.tolist(), k=10,
                                  filter={"taste:segment": segment}, fetch=fetch)  # fmt: skip
            got = [n.entity["user_id"] for n in answer.neighbours]
            assert len(got) == min(10, len(matching)), (segment, len(matching))
            assert set(got) <= set(matching.tolist())
            truth = matching[exact_top_k(rows["vectors"][matching], query[None, :], 10, "cosine")[0]]
            assert len(set(got) & set(truth.tolist())) >= 8
    answer = find_similar(index, registry, "taste:vec", vector=[1.0] * DIM, k=3,
                          filter={"taste:segment": {"in": ["nobody"]}}, fetch=fetch)  # fmt: skip
    assert answer.neighbours == [] and answer.exact and answer.candidates == index.size


def test_publish_never_moves_back_and_prune_keeps_the_live_version(registry: Registry, tmp_path: Path) -> None:
    newer = publish_rows(registry, tmp_path, nasty_rows(200, seed=1), delta_version=5)
    publish_rows(registry, tmp_path, nasty_rows(200, seed=2), delta_version=4)  # a late, older run
    cache = IndexCache(str(tmp_path), tmp_path / "cache", refresh_s=0)
    assert cache.get("taste", 1, "vec").manifest.index_id == newer
    for version in (6, 7, 8):
        publish_rows(registry, tmp_path, nasty_rows(200, seed=version), delta_version=version)
    root = index_root(str(tmp_path), "taste", 1, "vec")
    assert len(prune(root, keep=2)) == 3
    kept = [n for n in storage_for(root).list(root) if n.startswith("d")]
    assert len(kept) == 2 and cache.get("taste", 1, "vec").manifest.delta_version == 8


def test_a_swap_under_queries_never_fails_or_mixes_versions(registry: Registry, tmp_path: Path) -> None:
    """Version A indexes users 0..1999, version B users 10000..11999: every answer must hold
    only users of the version it names."""
    first = publish_rows(registry, tmp_path, nasty_rows(2000, seed=1), delta_version=1)
    cache = IndexCache(str(tmp_path), tmp_path / "cache", refresh_s=0)
    held = cache.get("taste", 1, "vec")
    answers: list[tuple[str, list[int]]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        rng = np.random.default_rng(threading.get_ident() % 1000)
        while not stop.is_set():
            try:
                index = cache.get("taste", 1, "vec")
                vector = rng.normal(size=DIM).tolist()
                answer = find_similar(index, registry, "taste:vec", vector=vector, k=5)
                answers.append((answer.index_id, [n.entity["user_id"] for n in answer.neighbours]))
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=query) for _ in range(3)]
    for thread in threads:
        thread.start()
    second = publish_rows(registry, tmp_path, nasty_rows(2000, seed=2, first_user=10_000), delta_version=2)
    while not any(index_id == second for index_id, _ in answers[-50:]):
        threading.Event().wait(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures
    assert {index_id for index_id, _ in answers} == {first, second}
    for index_id, users in answers:
        assert len(users) == 5
        assert all((u < 10_000) == (index_id == first) for u in users)
    # A query that took the old version before the swap still completes on it.
    assert find_similar(held, registry, "taste:vec", vector=[1.0] * DIM, k=3).index_id == first
