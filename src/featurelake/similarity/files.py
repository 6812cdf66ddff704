"""Where an index lives in the lake, and how a version is published and found.

Layout, per view version and feature:

    <lake_root>/_indexes/<view>/v<version>/<feature>/
        CURRENT                      {"index_id": ..., "delta_version": N}  (the live pointer)
        <index_id>/index.usearch     the HNSW graph and vectors (usearch, memory-mapped by readers)
        <index_id>/entities.arrow    row i = index key i: join keys, event time, key hash (sorted)
        <index_id>/manifest.json     written last: versions, parameters, checksums, recall check

Files are immutable; an index id is never reused. The pointer moves by compare-and-swap
and never back to an older Delta version, so two materializations racing publish the
newer one. Readers read the pointer, then only immutable files, so they never see half
an index. Every access goes through the storage layer (a local folder or S3).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from featurelake.similarity.errors import IndexFilesError, IndexNotBuiltError
from featurelake.storage import StorageConflictError, StorageNotFoundError, join, storage_for

POINTER = "CURRENT"
GRAPH_FILE = "index.usearch"
ENTITIES_FILE = "entities.arrow"
MANIFEST_FILE = "manifest.json"


def index_root(lake_root: str, view: str, view_version: int, feature: str) -> str:
    return join(lake_root, "_indexes", view, f"v{view_version}", feature)


@dataclass(frozen=True)
class IndexManifest:
    index_id: str
    ref: str
    view_version: int
    delta_version: int
    entities: int
    dim: int
    metric: str
    params: dict[str, int]
    ttl_s: int
    newest_event_us: int
    live_from_us: int  # rows older than this (newest - ttl) are left out
    skipped: dict[str, int]  # rows not indexed, by reason
    built_at: str
    build_seconds: float
    library: str
    featurelake: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {bytes, sha256}
    recall_check: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> IndexManifest:
        return cls(**json.loads(data))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish(root: str, folder: Path, manifest: IndexManifest) -> bool:
    """Copy a built index under `root/<index_id>/`, manifest last, then move the pointer to it
    unless a newer Delta version is already live. True when this version went live."""
    storage = storage_for(root)
    target = join(root, manifest.index_id)
    storage.put_tree(folder, target)
    storage.write(join(target, MANIFEST_FILE), manifest.to_json())
    pointer = join(root, POINTER)
    document = json.dumps({"index_id": manifest.index_id, "delta_version": manifest.delta_version}).encode()
    for _ in range(5):
        try:
            current = storage.read_versioned(pointer)
        except StorageNotFoundError:
            expected, live_version = None, -1
        else:
            expected, live_version = current.token, int(json.loads(current.data)["delta_version"])
        if live_version > manifest.delta_version:
            return False
        try:
            storage.replace(pointer, document, expected)
            return True
        except StorageConflictError:
            continue  # another publisher moved it meanwhile: compare again
    return False


KEEP_VERSIONS = 3


def prune(root: str, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete all but the newest `keep` index versions (never the live one); what was deleted.

    Older versions stay for a while so a reader that read the pointer just before a swap
    can still open the files it named."""
    storage = storage_for(root)
    try:
        live = json.loads(storage.read(join(root, POINTER)))["index_id"]
    except StorageNotFoundError:
        return []
    versions = sorted(n for n in storage.list(root) if n != POINTER and n.startswith("d"))
    doomed = [n for n in versions[:-keep] if n != live] if keep > 0 else []
    for name in doomed:
        storage.delete_tree(join(root, name))
    return doomed


def live_index_id(root: str, ref: str, view: str) -> str:
    """The id the pointer names (IndexNotBuiltError when there is none)."""
    try:
        return str(json.loads(storage_for(root).read(join(root, POINTER)))["index_id"])
    except StorageNotFoundError:
        raise IndexNotBuiltError(ref=ref, location=root, view=view) from None


def read_manifest(root: str, index_id: str) -> IndexManifest:
    return IndexManifest.from_json(storage_for(root).read(join(root, index_id, MANIFEST_FILE)))


def local_copy(root: str, manifest: IndexManifest, cache_dir: Path, view: str) -> Path:
    """A local folder holding the index's files: the lake folder itself when the lake is local,
    else a checked download into `cache_dir` (kept: index ids are never reused)."""
    storage = storage_for(root)
    location = join(root, manifest.index_id)
    local = storage.local_path(location)
    if local is not None:
        return local
    folder = cache_dir / manifest.index_id
    if (folder / MANIFEST_FILE).exists():
        return folder
    staging = cache_dir / f".{manifest.index_id}.{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=True)
    for name, facts in manifest.files.items():
        path = staging / name
        path.write_bytes(storage.read(join(location, name)))
        if sha256_of(path) != facts["sha256"]:
            shutil.rmtree(staging, ignore_errors=True)
            raise IndexFilesError(index_id=manifest.index_id, ref=manifest.ref, location=location, view=view,
                                  problem=f"{name} does not match its checksum")  # fmt: skip
    (staging / MANIFEST_FILE).write_bytes(manifest.to_json())
    try:
        staging.rename(folder)
    except OSError:  # another process finished the same download first
        shutil.rmtree(staging, ignore_errors=True)
    return folder
