"""find_similar over a Spark DataFrame: every Python worker opens the index version once.

The driver pins the live version (one index id for the whole job); Spark ships its folder
to the executors (`addFile`, from a local lake or s3a alike), and each worker memory-maps
it on first use and keeps it for the tasks that follow. Queries are searched in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from featurelake.registry.model import Registry
from featurelake.similarity.errors import QueryShapeError
from featurelake.similarity.files import IndexManifest, index_root
from featurelake.similarity.index import IndexCache, LoadedIndex
from featurelake.similarity.query import MAX_K, indexed_feature
from featurelake.storage import join

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

VECTOR = "vector"
_OPENED: dict[str, LoadedIndex] = {}  # per Python worker: index id -> the opened version


def find_similar_batch(
    spark: SparkSession, registry: Registry, cache: IndexCache, queries: DataFrame, feature: str, k: int
) -> DataFrame:
    """Rows: the query's columns (less `vector`), neighbour_rank (1 = nearest), neighbour_<key>...,
    distance, index_id, problem (null, or why the query has no neighbours)."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema

    ref, _ = indexed_feature(registry, feature)
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryShapeError(ref=feature, problem=f"k={k} is out of range; ask for 1 to {MAX_K} neighbours")
    keys = registry.join_keys(ref.view)
    by_entity = all(key in queries.columns for key in keys) and VECTOR not in queries.columns
    if not by_entity and VECTOR not in queries.columns:
        raise QueryShapeError(ref=feature, problem=f"the DataFrame needs the join keys {keys} or a `{VECTOR}` column")
    view_version = registry.view(ref.view).version
    index = cache.get(ref.view, view_version, ref.feature)
    manifest = index.manifest
    root = index_root(cache.lake_root, ref.view, view_version, ref.feature)
    spark.sparkContext.addFile(join(root, manifest.index_id), recursive=True)
    kept = [c for c in queries.schema if c.name != VECTOR]
    key_fields = [T.StructField(f"neighbour_{name}", from_arrow_type(index.key_types[name])) for name in keys]
    schema = T.StructType([*kept, T.StructField("neighbour_rank", T.IntegerType()), *key_fields,
                           T.StructField("distance", T.FloatType()), T.StructField("index_id", T.StringType()),
                           T.StructField("problem", T.StringType())])  # fmt: skip
    search = _partition_search(manifest, keys, [c.name for c in kept], by_entity, k, to_arrow_schema(schema))
    return queries.mapInArrow(search, schema)


def _partition_search(
    manifest: IndexManifest, keys: list[str], kept: list[str], by_entity: bool, k: int, schema: pa.Schema
) -> Any:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        index = _open(manifest)
        for batch in batches:
            yield pa.RecordBatch.from_pylist(_answer(index, batch, keys, kept, by_entity, k), schema=schema)

    return run


def _open(manifest: IndexManifest) -> LoadedIndex:
    from pyspark import SparkFiles

    if manifest.index_id not in _OPENED:
        _OPENED.clear()  # one version per worker at a time
        _OPENED[manifest.index_id] = LoadedIndex(manifest, Path(SparkFiles.get(manifest.index_id)))
    return _OPENED[manifest.index_id]


def _answer(
    index: LoadedIndex, batch: pa.RecordBatch, keys: list[str], kept: list[str], by_entity: bool, k: int
) -> list[dict[str, Any]]:
    rows = batch.to_pylist()
    vectors, excluded, problems = _query_vectors(index, rows, keys, by_entity)
    usable = [i for i, p in enumerate(problems) if p is None]
    out: list[dict[str, Any]] = []
    found = index.graph.search(np.stack([vectors[i] for i in usable]), k + by_entity) if usable else None
    answers = dict(zip(usable, range(len(usable)), strict=True))
    for i, row in enumerate(rows):
        base = {c: row[c] for c in kept}
        if problems[i] is not None or found is None:
            out.append({**base, "neighbour_rank": None, **{f"neighbour_{k_}": None for k_ in keys}, "distance": None,
                        "index_id": index.manifest.index_id, "problem": problems[i]})  # fmt: skip
            continue
        j = answers[i]
        labels = np.asarray(found.keys).reshape(len(usable), -1)[j]
        distances = np.asarray(found.distances).reshape(len(usable), -1)[j]
        picked = [(int(p), float(d)) for p, d in zip(labels, distances, strict=True) if int(p) != excluded[i]][:k]
        entities = index.entities(np.asarray([p for p, _ in picked], dtype=np.int64))
        for rank, ((_, distance), entity) in enumerate(zip(picked, entities, strict=True), start=1):
            out.append({**base, "neighbour_rank": rank, **{f"neighbour_{k_}": entity[k_] for k_ in keys},
                        "distance": distance, "index_id": index.manifest.index_id, "problem": None})  # fmt: skip
    return out


def _query_vectors(
    index: LoadedIndex, rows: list[dict[str, Any]], keys: list[str], by_entity: bool
) -> tuple[list[Any], list[int], list[str | None]]:
    vectors: list[Any] = []
    excluded: list[int] = []
    problems: list[str | None] = []
    dim = index.manifest.dim
    for row in rows:
        vector, exclude, problem = None, -1, None
        if by_entity:
            position = index.position([row[k] for k in keys])
            if position is None:
                problem = "entity not in the index (no live row with a vector at its Delta version)"
            else:
                vector, exclude = index.vector(position), position
        else:
            raw = row[VECTOR]
            array = None if raw is None else np.asarray(raw, dtype=np.float64)
            if array is None or array.shape != (dim,):
                problem = f"vector must have {dim} values"
            elif not np.isfinite(array).all():
                problem = "vector holds NaN or infinite values"
            elif index.manifest.metric == "cosine" and not np.any(array):
                problem = "vector is all zeros"
            else:
                vector = array.astype(np.float32)
        vectors.append(vector)
        excluded.append(exclude)
        problems.append(problem)
    return vectors, excluded, problems
