"""The index step of a materialization: for each indexed embedding of the view, build an
index from the latest row per entity at the Delta version the run wrote to Redis, and
publish it. A version already indexed at that Delta version is not built again."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import numpy as np

from featurelake.config import FeaturelakeConfig
from featurelake.offline.latest import read_latest
from featurelake.offline.tables import EVENT_TIMESTAMP
from featurelake.similarity.build import build_index, new_index_id, vectors_from_arrow
from featurelake.similarity.files import POINTER, IndexManifest, index_root, prune, publish
from featurelake.specs.models import FeatureView, VectorIndex, duration_seconds
from featurelake.storage import StorageNotFoundError, join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def indexed_features(view: FeatureView) -> list[str]:
    return [f.name for f in view.features if f.index is not None]


def live_delta_version(root: str) -> int | None:
    try:
        return int(json.loads(storage_for(root).read(join(root, POINTER)))["delta_version"])
    except StorageNotFoundError:
        return None


def build_view_indexes(
    spark: SparkSession, conf: FeaturelakeConfig, view: FeatureView, keys: list[str], delta_version: int,
    only_missing: bool = False,
) -> list[IndexManifest]:  # fmt: skip
    """Build and publish the view's indexes at `delta_version` (those already there are kept;
    `only_missing`: only those never built); the manifests of those built."""
    from pyspark.sql import functions as F

    todo = []
    for name in indexed_features(view):
        live = live_delta_version(index_root(conf.lake_root, view.name, view.version, name))
        if live is None or (live != delta_version and not only_missing):
            todo.append(name)
    if not todo:
        return []
    latest = read_latest(spark, conf.lake_root, view, keys, delta_version).rows
    table = latest.select(
        *keys, F.unix_micros(EVENT_TIMESTAMP).alias("event_us"), *[F.col(f"`{n}`") for n in todo]
    ).toArrow()
    key_values = {k: table[k].to_pylist() for k in keys}
    event_us = table["event_us"].to_numpy()
    built = []
    for name in todo:
        feature = next(f for f in view.features if f.name == name)
        assert feature.index is not None and feature.dim is not None
        vectors, present = vectors_from_arrow(table[name], feature.dim)
        built.append(_build_one(conf, view, name, feature.index, key_values, vectors, present, event_us, delta_version))
    return built


def _build_one(
    conf: FeaturelakeConfig, view: FeatureView, name: str, spec: VectorIndex, keys: dict[str, list[Any]],
    vectors: np.ndarray, present: np.ndarray, event_us: np.ndarray, delta_version: int,
) -> IndexManifest:  # fmt: skip
    root = index_root(conf.lake_root, view.name, view.version, name)
    index_id = new_index_id(delta_version)
    local = storage_for(root).local_path(join(root, index_id))
    folder = local if local is not None else conf.state_dir / "index-build" / index_id
    published = False
    try:
        manifest = build_index(f"{view.name}:{name}", spec, keys, vectors, present, event_us, delta_version,
                               view.version, duration_seconds(view.ttl), folder, index_id)  # fmt: skip
        publish(root, folder, manifest)
        published = True
    finally:
        if local is None or not published:  # a build that never went live leaves nothing behind
            shutil.rmtree(folder, ignore_errors=True)
    prune(root)
    return manifest
