"""faiss-cpu HNSW on the similarity benchmark's data, at the recall featurelake reached.

Run by bench_similarity.py in benchmarks/.venv-faiss: reads data.npy, queries.npy and
truth.npy from a folder, builds IndexHNSWFlat (inner product on unit vectors = cosine) with
the same M and efConstruction as featurelake's defaults, then raises efSearch until recall@10
reaches the target; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--target-recall", type=float, required=True)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=128)
    args = parser.parse_args()
    data = np.load(args.folder / "data.npy")
    queries = np.load(args.folder / "queries.npy")
    truth = np.load(args.folder / "truth.npy")
    faiss.normalize_L2(data)
    faiss.normalize_L2(queries)
    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(data.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    started = time.perf_counter()
    index.add(data)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)  # one query at a time, as a server thread answers it
    chosen = None
    for ef in (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512):
        index.hnsw.efSearch = ef
        _, found = index.search(queries, 10)
        r = recall(found, truth)
        if r >= args.target_recall:
            chosen = (ef, r)
            break
    ef, r = chosen if chosen else (512, r)
    index.hnsw.efSearch = ef
    seconds = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], 10)
        seconds.append(time.perf_counter() - t)
    ms = np.array(seconds) * 1000
    print(json.dumps({"build_s": round(build_s, 1), "ef_search": ef, "recall": round(r, 4),
                      "p50_ms": round(float(np.percentile(ms, 50)), 3),
                      "p99_ms": round(float(np.percentile(ms, 99)), 3), "faiss": faiss.__version__}))  # fmt: skip


if __name__ == "__main__":
    main()
