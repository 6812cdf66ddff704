"""A Delta table version's live data files, read from its log in Python, and a reader over them.

Why: Delta's Spark reader rebuilds a table's state with Spark jobs (replay the log, then
pick the files for the query). In a fresh process those jobs are cold, ~2 s per table
(benchmarks/README.md, "Training sets read their tables from the log"). A view's log is
small and plain: the live files of a version are the newest checkpoint's `add` actions,
then each later commit's `add`s and `remove`s, in order (the Delta protocol's action
reconciliation). Spark then reads just those parquet files, with the table's own schema.

Only what this replay fully understands takes that path: a local table whose protocol needs
no reader feature (no column mapping, no deletion vectors, no v2 checkpoints) and whose log
still holds every commit after its checkpoint. Anything else, and tables on an object store
(listing each data file there costs a request per file), is read by Delta's reader.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from featurelake.storage import StorageNotFoundError, is_object_store, join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_COMMIT = re.compile(r"(\d{20})\.json")
_CHECKPOINT = re.compile(r"(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?\.parquet")
# Reader features that change nothing about which files hold the rows or how to read them.
_PLAIN_READER_FEATURES = frozenset({"timestampNtz"})


@dataclass(frozen=True)
class LiveFiles:
    """The data files and the schema (Delta's JSON, which is Spark's) of one table version."""

    version: int
    schema_json: str
    paths: tuple[str, ...]


def live_files(table: str, version: int) -> LiveFiles | None:
    """The live files of `table` at `version` from its log; None when Delta's reader must decide."""
    storage = storage_for(table)
    log = join(table, "_delta_log")
    names = storage.list(log)
    commits = {int(m[1]) for m in map(_COMMIT.fullmatch, names) if m}
    start, checkpoint = _newest_checkpoint(names, version)
    if any(v not in commits for v in range(start, version + 1)):
        return None  # a commit cleaned up, or the version does not exist: Delta says which
    state = _State()
    for name in checkpoint:
        state.apply_checkpoint(storage.read(join(log, name)))
    for v in range(start, version + 1):
        for line in storage.read(join(log, f"{v:020d}.json")).splitlines():
            if line.strip():
                state.apply(json.loads(line))
    if not state.plain() or state.schema_json is None:
        return None
    paths = tuple(_absolute(table, p) for p in state.files)
    return LiveFiles(version=version, schema_json=state.schema_json, paths=paths)


def read_version(spark: SparkSession, table: str, version: int) -> DataFrame:
    """The rows of `table` at `version`: its live files straight from the log when it can
    (module docstring), else Delta's reader. The same rows and columns either way."""
    from pyspark.sql.types import StructType

    files = None if is_object_store(table) else live_files(table, version)
    if files is None or not files.paths:
        return spark.read.format("delta").option("versionAsOf", version).load(table)
    schema = StructType.fromJson(json.loads(files.schema_json))
    # basePath: the partition column comes from the `date=...` folders, typed by the schema.
    return spark.read.schema(schema).option("basePath", table).parquet(*files.paths)


def commit_infos(table: str, after: int = -1) -> list[dict[str, Any]] | None:
    """The `commitInfo` of every commit of `table` after version `after`, oldest first, each
    with its `version`: what Delta's `history()` answers, without its Spark job. None when a
    commit in that range is no longer in the log (cleaned up) or records no commitInfo: the
    caller then cannot know what those commits changed."""
    storage = storage_for(table)
    log = join(table, "_delta_log")
    versions = sorted(int(m[1]) for m in map(_COMMIT.fullmatch, storage.list(log)) if m)
    wanted = [v for v in versions if v > after]
    if wanted != list(range(after + 1, (versions[-1] if versions else after) + 1)):
        return None
    infos = []
    for v in wanted:
        try:
            info = read_commit_info(table, v)
        except StorageNotFoundError:  # cleaned up between the listing and the read
            return None
        if info is None:
            return None
        infos.append({**info, "version": v})
    return infos


def read_commit_info(table: str, version: int) -> dict[str, Any] | None:
    """The `commitInfo` action of one commit of `table`; None when the commit records none.
    Raises StorageNotFoundError when the commit is not in the log (cleaned up)."""
    lines = storage_for(table).read(join(table, "_delta_log", f"{version:020d}.json")).splitlines()
    actions = (json.loads(line) for line in lines if b'"commitInfo"' in line)
    return next((a["commitInfo"] for a in actions if "commitInfo" in a), None)


def _newest_checkpoint(names: list[str], version: int) -> tuple[int, list[str]]:
    """(first commit to replay, the checkpoint's part files): the newest complete checkpoint
    at or before `version`, or none (replay from commit 0)."""
    parts: dict[int, dict[int, list[str]]] = {}
    for match in filter(None, map(_CHECKPOINT.fullmatch, names)):
        at, total = int(match[1]), int(match[3] or 1)
        if at <= version:
            parts.setdefault(at, {}).setdefault(total, []).append(match[0])
    for at in sorted(parts, reverse=True):
        complete = [sorted(files) for total, files in parts[at].items() if len(files) == total]
        if complete:
            return at + 1, complete[0]
    return 0, []


class _State:
    """The protocol, schema and live files, as actions are applied in log order."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}
        self.schema_json: str | None = None
        self.protocol: dict[str, Any] = {"minReaderVersion": 1}
        self.deletion_vectors = False

    def apply(self, action: dict[str, Any]) -> None:
        if add := action.get("add"):
            self.files[add["path"]] = None
            self.deletion_vectors |= bool(add.get("deletionVector"))
        elif remove := action.get("remove"):
            self.files.pop(remove["path"], None)
        elif metadata := action.get("metaData"):
            self.schema_json = metadata["schemaString"]
        elif protocol := action.get("protocol"):
            self.protocol = protocol

    def apply_checkpoint(self, data: bytes) -> None:
        """A checkpoint holds the reconciled state: its `add`s are exactly the live files
        (its `remove`s are tombstones for vacuum, not changes to apply)."""
        import pyarrow.parquet as pq

        columns = pq.read_table(io.BytesIO(data), columns=["add", "metaData", "protocol"]).to_pydict()
        for add in filter(None, columns["add"]):
            self.apply({"add": add})
        for action in ("metaData", "protocol"):
            for value in filter(None, columns[action]):
                self.apply({action: value})

    def plain(self) -> bool:
        reader = int(self.protocol.get("minReaderVersion") or 1)
        features = set(self.protocol.get("readerFeatures") or [])
        supported = reader == 1 or (reader == 3 and features <= _PLAIN_READER_FEATURES)
        return supported and not self.deletion_vectors


def _absolute(table: str, path: str) -> str:
    """A log path is relative to the table and URL-encoded, or an absolute URI (shallow clones)."""
    return unquote(path) if ":" in path.split("/", 1)[0] or path.startswith("/") else join(table, unquote(path))
