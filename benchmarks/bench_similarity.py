"""Similarity search: index build, recall and latency at 1M entities, beside exact numpy
search and faiss-cpu HNSW at the same recall, in one run.

    .venv/bin/python benchmarks/bench_similarity.py [--entities 1000000 --dim 64 --seconds 15] [--no-peer]

Data: `clustered_vectors` (2,000 Gaussian clusters in 64 dimensions, unit-normalised by the
cosine metric), 1M entities; 1,000 queries drawn the same way (not in the index). Truth is
exact cosine top-10 (numpy). Steps, each printed:
- build: `build_index`, the function every materialization runs (hashing the keys, HNSW with
  the spec's defaults, entity table, checksums, the recall self-check), then `publish`;
- in process: `find_similar` (what FeatureStore.find_similar runs) one query at a time;
- exact numpy search, one query at a time (what a user without an index does);
- HTTP: `featurelake serve --workers 2` as a user starts it, wrk (2 threads, 8 connections)
  sending POST /similar with k=10 for one of 200 query vectors;
- swap: a new index version published under about 200 queries/s from 4 clients; failed
  requests and answers naming each version are counted;
- as users run it: the same 1M vectors as a parquet source, `featurelake backfill` (validation
  gate included), then `featurelake materialize --full` timed as a whole process: Redis
  writes, the collect of the latest rows and the index build (`--no-materialize` skips it);
- faiss-cpu 1.15 IndexHNSWFlat (same M and efConstruction), efSearch raised until its recall
  reaches featurelake's, when benchmarks/.venv-faiss exists (benchmarks/setup_faiss.sh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from bench_serve import stop, wait_ready, wrk

from featurelake.config import load_config
from featurelake.online.redis_server import free_port, start_redis_server
from featurelake.registry import apply_specs, load_registry
from featurelake.similarity import IndexCache, find_similar, indexed_feature
from featurelake.similarity.build import build_index, exact_top_k, new_index_id
from featurelake.similarity.files import MANIFEST_FILE, index_root, publish, read_manifest

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REF = "item_embedding:vec"
SPEC = """
entities:
  - {name: item, join_keys: [item_id]}
sources:
  - {name: items, format: parquet, path: raw/items, timestamp: ts}
feature_view:
  name: item_embedding
  version: 1
  entity: item
  source: items
  owner: bench
  ttl: 30d
  online: true
  features:
    - {name: vec, dtype: embedding, dim: DIM, index: {metric: cosine}}
"""
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
bodies = {BODIES}
math.randomseed(7)
request = function()
  return wrk.format(nil, "/similar", nil, bodies[math.random(1, #bodies)])
end
"""


def clustered_vectors(n: int, dim: int, seed: int, clusters: int = 2000, spread: float = 0.35) -> np.ndarray:
    """Points around `clusters` random centres: neighbours are mostly in the point's own cluster."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        out[start : start + size] = centers[rng.integers(0, clusters, size)] + spread * rng.normal(size=(size, dim))
    return out


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def exact_truth(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.concatenate([exact_top_k(data, queries[i : i + 20], 10, "cosine") for i in range(0, len(queries), 20)])


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-materialize", action="store_true")
    parser.add_argument("--only-materialize", action="store_true", help="just the whole-process step")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        run(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: Path) -> None:
    data = clustered_vectors(args.entities, args.dim, seed=1)
    queries = clustered_vectors(args.queries, args.dim, seed=2)
    print(f"data: {args.entities:,} x {args.dim} float32 in 2,000 clusters; {args.queries:,} queries", flush=True)
    if args.only_materialize:
        _, _, redis_server = project(base, args.dim)
        try:
            materialize_whole_process(base, data)
        finally:
            redis_server.stop()
        return
    started = time.perf_counter()
    truth = exact_truth(data, queries)
    print(f"exact truth (numpy, batches of 20 queries): {time.perf_counter() - started:.1f} s", flush=True)

    conf, registry, redis_server = project(base, args.dim)
    _, spec = indexed_feature(registry, REF)
    root = index_root(conf.lake_root, "item_embedding", 1, "vec")
    index_id = new_index_id(1)
    started = time.perf_counter()
    manifest = build_index(REF, spec, {"item_id": list(range(args.entities))}, data, np.ones(len(data), dtype=bool),
                           np.full(len(data), 10**15), 1, 1, 30 * 86400, Path(root) / index_id, index_id)  # fmt: skip
    publish(root, Path(root) / index_id, manifest)
    build_s = time.perf_counter() - started
    size_mb = sum(f["bytes"] for f in manifest.files.values()) / 1e6
    print(f"build (build_index + publish, {spec.connectivity}/{spec.expansion_add}/{spec.expansion_search}): "
          f"{build_s:.1f} s ({manifest.build_seconds:.1f} s in build_index), {size_mb:,.0f} MB, "
          f"self-check recall@10 {manifest.recall_check['recall']:.3f} (target build <= 180 s)",
          flush=True)  # fmt: skip

    index = IndexCache(conf.lake_root, base / "cache").get("item_embedding", 1, "vec")
    found, seconds = [], []
    for q in queries:
        vector = q.tolist()
        t = time.perf_counter()
        answer = find_similar(index, registry, REF, vector=vector, k=10)
        seconds.append(time.perf_counter() - t)
        found.append([n.entity["item_id"] for n in answer.neighbours])
    ours = recall(found, truth)
    p50, p99 = percentiles(seconds)
    print(f"featurelake in process (find_similar, k=10): recall@10 {ours:.4f} (target >= 0.95), "
          f"p50 {p50:.3f} ms, p99 {p99:.3f} ms (targets 0.5 / 2 ms)", flush=True)  # fmt: skip
    raw = []
    for q in queries:
        t = time.perf_counter()
        index.graph.search(q, 10)
        raw.append(time.perf_counter() - t)
    print("  of which usearch's search: p50 {:.3f} ms, p99 {:.3f} ms".format(*percentiles(raw)), flush=True)
    exact_seconds = []
    normalised = data / np.linalg.norm(data, axis=1, keepdims=True)
    for q in queries[:200]:
        t = time.perf_counter()
        scores = normalised @ (q / np.linalg.norm(q))
        np.argpartition(-scores, 10)[:10]
        exact_seconds.append(time.perf_counter() - t)
    print("exact numpy search, one query (unit vectors precomputed): p50 {:.2f} ms, p99 {:.2f} ms".format(
        *percentiles(exact_seconds)), flush=True)  # fmt: skip
    del normalised

    try:
        serve_and_swap(args, base, queries, root, manifest.index_id)
        if not args.no_materialize:
            materialize_whole_process(base, data)
    finally:
        redis_server.stop()
    if not args.no_peer:
        faiss_peer(base, data, queries, truth, ours)


def project(base: Path, dim: int):  # type: ignore[no-untyped-def]
    repo = base / "specs"
    repo.mkdir()
    (repo / "items.yaml").write_text(SPEC.replace("DIM", str(dim)))
    server = start_redis_server(base / "redis", port=free_port(), appendonly=False)
    local = (BENCH.parent / "conf" / "local.yaml").read_text()  # the product's Spark settings
    spark = local[local.index("spark:") : local.index("redis:")].replace(
        "./.featurelake/jars", str(BENCH.parent / ".featurelake" / "jars")
    )
    redis = f"redis:\n  url: redis://127.0.0.1:{server.port}/0\n  embedded: false\n"
    (base / "conf.yaml").write_text(f"project: bench\nlake_root: {base / 'lake'}\nstate_dir: {base / 'state'}\n"
                                    f"{spark}{redis}")  # fmt: skip
    conf = load_config(base / "conf.yaml", env={})
    apply_specs(repo, conf)
    return conf, load_registry(conf), server


def serve_and_swap(args: argparse.Namespace, base: Path, queries: np.ndarray, root: str, live: str) -> None:
    port = free_port()
    argv = [str(BIN / "featurelake"), "serve", "--port", str(port), "--workers", "2", "--conf", str(base / "conf.yaml"),
            "--registry-refresh-s", "1"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", proc)
        bodies = [
            json.dumps({"feature": REF, "vector": [round(float(v), 5) for v in q], "k": 10}) for q in queries[:200]
        ]
        script = base / "similar.lua"
        script.write_text(LUA.replace("{BODIES}", "{" + ",".join(json.dumps(b) for b in bodies) + "}"))
        wrk(port, script, 8, 3)  # warm-up: both workers open the index
        r = wrk(port, script, 8, args.seconds)
        print(f"HTTP POST /similar, featurelake serve --workers 2, wrk 8 connections, {args.seconds}s: "
              f"{r['rps']:,.0f} requests/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms (target <= 10 ms), "
              f"errors {r['errors']:.0f}", flush=True)  # fmt: skip
        swap(port, bodies, root, live)
    finally:
        stop(proc)


def swap(port: int, bodies: list[str], root: str, live: str) -> None:
    """A new version (the same graph under a new id and Delta version) goes live under load."""
    outcomes: list[tuple[int, str, float]] = []
    halt = threading.Event()

    def client(offset: int) -> None:
        i = offset
        while not halt.is_set():
            t = time.perf_counter()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/similar", data=bodies[i % len(bodies)].encode(),
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    outcomes.append((response.status, json.loads(response.read())["index_id"], time.perf_counter() - t))
            except Exception:  # every failure is counted
                outcomes.append((0, "", time.perf_counter() - t))
            i += 4
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - t)))  # about 50/s per client

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    old = read_manifest(root, live)
    new_id = new_index_id(old.delta_version + 1)
    shutil.copytree(Path(root) / live, Path(root) / new_id)
    (Path(root) / new_id / MANIFEST_FILE).unlink()
    published = time.perf_counter()
    publish(
        root,
        Path(root) / new_id,
        type(old)(**{**old.__dict__, "index_id": new_id, "delta_version": old.delta_version + 1}),
    )
    while time.perf_counter() - published < 30 and not any(o[1] == new_id for o in outcomes[-8:]):
        time.sleep(0.1)
    swapped = time.perf_counter() - published
    time.sleep(3)
    halt.set()
    for thread in threads:
        thread.join()
    failed = sum(1 for o in outcomes if o[0] != 200)
    versions = {v: sum(1 for o in outcomes if o[1] == v) for v in (live, new_id)}
    duration = max(o[2] for o in outcomes) * 1000
    rate = len(outcomes) / (time.perf_counter() - published + 3)
    print(f"swap under load: {len(outcomes):,} requests at ~{rate:.0f}/s, {failed} failed (target 0); "
          f"old version answered {versions[live]:,}, new {versions[new_id]:,}; all answers on the new version "
          f"{swapped:.1f} s after publish; slowest request {duration:.0f} ms", flush=True)  # fmt: skip


def materialize_whole_process(base: Path, data: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, dim = data.shape
    folder = base / "lake" / "raw" / "items"
    folder.mkdir(parents=True)
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    vectors = pa.ListArray.from_arrays(offsets, pa.array(data.reshape(-1)))
    ts = pa.array(
        np.full(n, np.datetime64("2025-03-01T00:00:00", "us")) + (np.arange(n) % 86400).astype("timedelta64[s]")
    )
    pq.write_table(pa.table({"item_id": pa.array(np.arange(n, dtype=np.int64)), "ts": ts, "vec": vectors}),
                   folder / "part-0.parquet")  # fmt: skip
    conf = str(base / "conf.yaml")
    for step in (["backfill", "item_embedding", "--start", "2025-03-01", "--end", "2025-03-01"],
                 ["materialize", "item_embedding", "--full"]):  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "featurelake"), *step, "--conf", conf], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"featurelake {step[0]} failed: {done.stderr[-2000:]}")
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        print(f"`featurelake {' '.join(step[:1] + step[2:])}` as a whole process, {n:,} entities: {seconds:.1f} s; "
              + " | ".join(lines[-2:]), flush=True)  # fmt: skip


def faiss_peer(base: Path, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, target: float) -> None:
    python = BENCH / ".venv-faiss" / "bin" / "python"
    if not python.exists():
        print("faiss peer skipped: run benchmarks/setup_faiss.sh")
        return
    folder = base / "faiss"
    folder.mkdir()
    np.save(folder / "data.npy", data)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", truth)
    out = subprocess.run([str(python), str(BENCH / "peers" / "faiss_hnsw.py"), str(folder), "--target-recall",
                          str(target)], capture_output=True, text=True, check=True).stdout  # fmt: skip
    r = json.loads(out.strip().splitlines()[-1])
    print(f"faiss-cpu {r['faiss']} HNSW (M 16, efConstruction 128), same run: build {r['build_s']} s; at efSearch "
          f"{r['ef_search']} recall@10 {r['recall']:.4f}, one query p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
