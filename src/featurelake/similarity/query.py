"""One similarity query, the same for the Python API, the CLI and POST /similar.

Validate the query, search the index version in hand, and when a filter is given, search
wider until K candidates pass it or every live entity has been looked at (the last step is
exact), so a filter never returns fewer than K when K matching entities exist. Feature
values (for the filter and for `features`) are read from Redis by the caller's `fetch`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from featurelake.registry.model import FeatureRef, Registry
from featurelake.similarity.errors import (
    EntityNotIndexedError,
    IndexNotDeclaredError,
    KOutOfRangeError,
    QueryShapeError,
    VectorError,
)
from featurelake.similarity.filters import Condition, parse_filter
from featurelake.similarity.index import LoadedIndex
from featurelake.specs.models import VectorIndex

MAX_K = 1000
WIDEN = 8  # each filtered round looks at this many times more candidates
Fetch = Callable[[list[FeatureRef], list[dict[str, Any]]], dict[str, list[Any]]]


@dataclass(frozen=True)
class Neighbour:
    entity: dict[str, Any]
    distance: float
    features: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SimilarResult:
    ref: str
    index_id: str
    delta_version: int
    metric: str
    neighbours: list[Neighbour]
    candidates: int  # how many entries were looked at
    exact: bool  # the last search was exhaustive

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.ref, "index_id": self.index_id, "delta_version": self.delta_version,
            "metric": self.metric, "candidates": self.candidates, "exact": self.exact,
            "neighbours": [{"entity": n.entity, "distance": n.distance, "features": n.features}
                           for n in self.neighbours],
        }  # fmt: skip


def indexed_feature(registry: Registry, ref: str) -> tuple[FeatureRef, VectorIndex]:
    """The feature a query names, and its index spec (IndexNotDeclaredError when it has none)."""
    (feature,) = registry.resolve_refs([ref])
    spec = next(f for f in registry.view(feature.view).features if f.name == feature.feature)
    if spec.index is None:
        raise IndexNotDeclaredError(ref=ref)
    return feature, spec.index


def find_similar(
    index: LoadedIndex, registry: Registry, ref: str, *, entity: dict[str, Any] | None = None,
    vector: Sequence[float] | None = None, k: int = 10, features: Sequence[str] = (),
    filter: dict[str, Any] | None = None, fetch: Fetch | None = None,
) -> SimilarResult:  # fmt: skip
    """The k nearest live entities to `entity`'s vector (itself left out) or to `vector`."""
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise KOutOfRangeError(ref=ref, k=k, limit=MAX_K)
    if (entity is None) == (vector is None):
        raise QueryShapeError(ref=ref, problem="give exactly one of `entity` (join key values) or `vector`")
    target = registry.resolve_refs([ref])[0]
    join_keys = registry.join_keys(target.view)
    conditions = parse_filter(filter, registry, ref, join_keys)
    wanted = registry.resolve_refs(list(features))
    if (conditions or wanted) and fetch is None:
        raise QueryShapeError(ref=ref, problem="`features` and `filter` need the online store")
    query, exclude = _query_vector(index, ref, join_keys, entity, vector)
    positions, distances, candidates, exact = _search(index, query, k, exclude, conditions, fetch)
    entities = index.entities(positions)
    values = _features(fetch, wanted, entities) if wanted and fetch else [{} for _ in entities]
    neighbours = [Neighbour(e, float(d), v) for e, d, v in zip(entities, distances, values, strict=True)]
    m = index.manifest
    return SimilarResult(ref, m.index_id, m.delta_version, m.metric, neighbours, candidates, exact)


def _query_vector(
    index: LoadedIndex, ref: str, join_keys: list[str], entity: dict[str, Any] | None, vector: Sequence[float] | None
) -> tuple[np.ndarray, int | None]:
    if entity is not None:
        if not isinstance(entity, dict) or sorted(entity) != sorted(join_keys):
            raise QueryShapeError(
                ref=ref, problem=f"`entity` must give exactly the join keys {join_keys}, got {entity!r}"
            )
        position = index.position([entity[k] for k in join_keys])
        if position is None:
            m = index.manifest
            raise EntityNotIndexedError(entity=entity, index_id=m.index_id, ref=ref, delta_version=m.delta_version)
        return index.vector(position), position
    return _checked_vector(index, ref, vector), None


def _numbers(vector: Any) -> bool:
    if isinstance(vector, np.ndarray):
        return vector.ndim == 1 and vector.dtype.kind in "fiu"
    if not isinstance(vector, list | tuple):
        return False
    plain = (float, int)
    return all(type(v) in plain for v in vector) or all(
        not isinstance(v, bool) and isinstance(v, int | float | np.floating | np.integer) for v in vector
    )


def _checked_vector(index: LoadedIndex, ref: str, vector: Any) -> np.ndarray:
    if not _numbers(vector):
        raise VectorError(ref=ref, problem="must be a list of numbers")
    dim = index.manifest.dim
    if len(vector) != dim:
        raise VectorError(ref=ref, problem=f"has {len(vector)} values; the feature's dim is {dim}")
    array = np.asarray(vector, dtype=np.float64)
    if not np.isfinite(array).all() or np.abs(array).max() > np.finfo(np.float32).max:
        raise VectorError(ref=ref, problem="holds NaN or infinite values (or values beyond float32)")
    if index.manifest.metric == "cosine" and not np.any(array):
        raise VectorError(ref=ref, problem="is all zeros: cosine distance needs a direction")
    return array.astype(np.float32)


def _search(
    index: LoadedIndex, query: np.ndarray, k: int, exclude: int | None, conditions: list[Condition], fetch: Fetch | None
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    size = index.size
    want = k + (exclude is not None)
    count, exact = (want if not conditions else want * 4), False
    while True:
        exact = exact or count >= size // 2  # past half of the index, brute force is cheaper and complete
        positions, distances = index.search(query, count, exact=exact)
        keep = positions != exclude if exclude is not None else np.ones(len(positions), dtype=bool)
        if conditions and fetch is not None:
            keep &= _passes(fetch, conditions, index.entities(positions))
        kept = np.flatnonzero(keep)
        complete = exact and count >= size
        if len(kept) >= k or complete:
            return positions[kept[:k]], distances[kept[:k]], len(positions), exact
        if not conditions and not exact:
            exact = True  # the graph gave fewer than asked for: the exhaustive search cannot
            continue
        count = min(size, count * WIDEN) if exact or count * WIDEN < size // 2 else size


def _passes(fetch: Fetch, conditions: list[Condition], entities: list[dict[str, Any]]) -> np.ndarray:
    refs = list(dict.fromkeys(c.ref for c in conditions))
    columns = fetch(refs, entities)
    ok = np.ones(len(entities), dtype=bool)
    for c in conditions:
        ok &= np.fromiter((c.test(_plain(v)) for v in columns[c.column]), dtype=bool, count=len(entities))
    return ok


def _features(fetch: Fetch, refs: list[FeatureRef], entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = fetch(refs, entities)
    names = [f"{r.view}__{r.feature}" for r in refs]
    short = [r.feature for r in refs]
    unique = len(set(short)) == len(short)
    out = [dict[str, Any]() for _ in entities]
    for name, label in zip(names, short if unique else names, strict=True):
        for i, value in enumerate(columns[name]):
            out[i][label] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
