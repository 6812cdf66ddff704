"""Build an HNSW index (usearch) from the latest row of every entity, and check its recall.

Input is what a materialization wrote to Redis: one row per entity at one Delta version.
Rows older than the newest row minus the view's ttl, null vectors, vectors holding NaN or
infinity, and (for cosine) zero vectors are left out and counted in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from featurelake import __version__
from featurelake.similarity.files import ENTITIES_FILE, GRAPH_FILE, IndexManifest, sha256_of
from featurelake.specs.models import VectorIndex

USEARCH_METRIC = {"cosine": "cos", "ip": "ip", "l2": "l2sq"}
RECALL_QUERIES, RECALL_K = 200, 10


def new_index_id(delta_version: int) -> str:
    """Sortable by Delta version, never reused."""
    return f"d{delta_version:08d}-{uuid.uuid4().hex[:12]}"


def entity_text(values: Sequence[Any]) -> str:
    """The entity's key as written in Redis keys (`42`, or `a|7` for composite keys)."""
    return "|".join(str(v) for v in values)


def entity_hash(values: Sequence[Any]) -> int:
    return int.from_bytes(hashlib.blake2b(entity_text(values).encode(), digest_size=8).digest(), "little")


def build_index(
    ref: str, spec: VectorIndex, keys: dict[str, list[Any]], vectors: np.ndarray, present: np.ndarray,
    event_us: np.ndarray, delta_version: int, view_version: int, ttl_s: int, folder: Path, index_id: str,
) -> IndexManifest:  # fmt: skip
    """Write `index.usearch` and `entities.arrow` into `folder`; the manifest describing them.

    `vectors` is (rows, dim) float32 and `present` says which rows have a vector at all."""
    import pyarrow as pa
    import pyarrow.feather as feather
    from usearch.index import Index

    started = time.monotonic()
    dim = int(vectors.shape[1])
    matrix, (usable, skipped) = vectors, _usable(vectors, present, spec.metric)
    newest = int(event_us.max()) if len(event_us) else 0
    live_from = newest - ttl_s * 1_000_000
    live = usable & (event_us >= live_from)
    skipped["past_ttl"] = int((usable & ~live).sum())
    rows = np.flatnonzero(live)
    names = list(keys)
    hashes = np.fromiter((entity_hash([keys[k][i] for k in names]) for i in rows), dtype=np.uint64, count=len(rows))
    order = np.argsort(hashes, kind="stable")
    rows, hashes = rows[order], hashes[order]
    data = np.ascontiguousarray(matrix[rows])
    index = Index(ndim=dim, metric=USEARCH_METRIC[spec.metric], dtype="f32", connectivity=spec.connectivity,
                  expansion_add=spec.expansion_add, expansion_search=spec.expansion_search)  # fmt: skip
    if len(rows):
        index.add(np.arange(len(rows), dtype=np.uint64), data, threads=os.cpu_count() or 1)
    folder.mkdir(parents=True, exist_ok=True)
    index.save(str(folder / GRAPH_FILE))
    table = pa.table({"_hash": hashes, **{k: pa.array([keys[k][i] for i in rows]) for k in names},
                      "event_us": event_us[rows].astype(np.int64)})  # fmt: skip
    feather.write_feather(table, str(folder / ENTITIES_FILE), compression="uncompressed")
    recall = recall_check(index, data, spec.metric)
    files = {
        n: {"bytes": (folder / n).stat().st_size, "sha256": sha256_of(folder / n)} for n in (GRAPH_FILE, ENTITIES_FILE)
    }
    return IndexManifest(
        index_id=index_id, ref=ref, view_version=view_version,
        delta_version=delta_version, entities=len(rows), dim=dim, metric=spec.metric,
        params={"connectivity": spec.connectivity, "expansion_add": spec.expansion_add,
                "expansion_search": spec.expansion_search},
        ttl_s=ttl_s, newest_event_us=newest, live_from_us=live_from, skipped=skipped,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"), build_seconds=round(time.monotonic() - started, 3),
        library=f"usearch {_usearch_version()}", featurelake=__version__, files=files, recall_check=recall,
    )  # fmt: skip


def vectors_from_arrow(column: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A list<float> Arrow column -> ((rows, dim) float32 matrix, which rows hold a dim-long vector)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)
    present = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool) & (lengths == dim)
    matrix = np.zeros((len(array), dim), dtype=np.float32)
    values = array.filter(pa.array(present)).flatten().to_numpy(zero_copy_only=False)
    matrix[present] = np.asarray(values, dtype=np.float32).reshape(-1, dim)
    return matrix, present


def _usable(matrix: np.ndarray, present: np.ndarray, metric: str) -> tuple[np.ndarray, dict[str, int]]:
    finite = np.isfinite(matrix).all(axis=1)
    nonzero = np.any(matrix != 0, axis=1) if metric == "cosine" else np.ones(len(matrix), dtype=bool)
    skipped = {"null": int((~present).sum()), "not_finite": int((present & ~finite).sum()),
               "zero_vector": int((present & finite & ~nonzero).sum())}  # fmt: skip
    return present & finite & nonzero, skipped


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Brute force: the k nearest rows of `data` to each query, nearest first (what a user
    without an index does, and the oracle of the recall check)."""
    if metric == "l2":
        scores = -(np.sum(data * data, axis=1)[None, :] - 2 * queries @ data.T)
    elif metric == "cosine":
        norms = np.linalg.norm(data, axis=1)
        scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ data.T / norms[None, :]
    else:
        scores = queries @ data.T
    k = min(k, data.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, top, axis=1)
    return np.take_along_axis(top, np.argsort(-picked, axis=1, kind="stable"), axis=1)


def recall_check(
    index: Any, data: np.ndarray, metric: str, queries: int = RECALL_QUERIES, k: int = RECALL_K
) -> dict[str, float]:
    """Recall@k of the index against exact search, on stored vectors as queries (seeded sample)."""
    n = data.shape[0]
    if n == 0:
        return {}
    picked = np.random.default_rng(0).choice(n, size=min(queries, n), replace=False)
    sample = data[picked]
    k = min(k, n)
    exact = np.concatenate([exact_top_k(data, sample[i : i + 50], k, metric) for i in range(0, len(sample), 50)])
    found = index.search(sample, k).keys.reshape(len(sample), -1)
    hits = sum(len(set(found[i].tolist()) & set(exact[i].tolist())) for i in range(len(sample)))
    return {"queries": float(len(sample)), "k": float(k), "recall": round(hits / (len(sample) * k), 4)}


def _usearch_version() -> str:
    import usearch

    return str(usearch.__version__)
