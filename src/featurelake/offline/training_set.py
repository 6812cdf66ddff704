"""Training sets: labels + point-in-time features, reproducible from their metadata.

Every table is read at a pinned Delta version, recorded in `<output>.metadata.json`
together with the feature refs, the registry version, the labels and row counts;
`reproduce` rebuilds the identical set later, whatever was backfilled since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurelake import __version__
from featurelake.errors import FeaturelakeError
from featurelake.offline.as_of_join import LABEL_TS, ViewRequest, as_of_join, prune_rows
from featurelake.offline.delta_log import read_version
from featurelake.offline.footers import local_parquet_files, row_count, time_stats
from featurelake.offline.tables import committed_version, table_path
from featurelake.registry.model import FeatureRef, Registry
from featurelake.spark.times import TIME_TYPES, as_timestamp, type_name
from featurelake.storage import StorageError, StorageNotFoundError, join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


TRAINING_SETS_DIR = "_training_sets"
log = logging.getLogger(__name__)


class LabelsNotFoundError(FeaturelakeError):
    template = "labels {labels} do not exist; pass --labels with a parquet, delta or csv path"


class LabelsUnreadableError(FeaturelakeError):
    template = "labels {labels} cannot be read: {problem}"


class LabelColumnMissingError(FeaturelakeError):
    template = "labels {labels} have no column {column!r} (they have: {available}){hint}"


class LabelKeyTypeError(FeaturelakeError):
    template = (
        "labels {labels}: join key {column!r} is {actual}, but view {view} keys it as {expected}; "
        "write the column as {expected} in the labels file"
    )


class LabelTimestampError(FeaturelakeError):
    template = "labels {labels}: timestamp column {column!r} {problem}"


class EmptyLabelsError(FeaturelakeError):
    template = "labels {labels} have no rows: there is nothing to build"


class FeatureNameClashError(FeaturelakeError):
    template = (
        "output column(s) {names} would appear twice (features of several views, or a label column); "
        "pass --full-feature-names to name them view__feature"
    )


class OutputExistsError(FeaturelakeError):
    template = "{path} already exists; pass --overwrite or choose another --output"


class TrainingSetMetadataMissingError(FeaturelakeError):
    template = "no training-set metadata at {path}; pass the .metadata.json written beside a built training set"


class FeatureTableMissingError(FeaturelakeError):
    template = "feature view {view} v{version} has no table at {path}; run `featurelake backfill {view} ...` first"


@dataclass
class TrainingSetInfo:
    """What a build read and produced: written as the metadata JSON."""

    feature_refs: list[str]
    registry_version: int | None
    view_versions: dict[str, int]
    tables: dict[str, dict[str, Any]]
    labels: str
    timestamp_column: str
    full_feature_names: bool
    label_rows: int = 0
    output_rows: int = 0
    output: str | None = None
    output_format: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    featurelake_version: str = __version__
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True, default=str)


def read_labels(spark: SparkSession, labels: Any, labels_format: str | None = None) -> tuple[DataFrame, str]:
    """A Spark DataFrame of labels and a description of where they came from."""
    import pandas as pd
    from pyspark.sql import DataFrame

    if isinstance(labels, DataFrame):
        return labels, "<Spark DataFrame>"
    if isinstance(labels, pd.DataFrame):
        if labels.empty:
            raise EmptyLabelsError(labels="<pandas DataFrame>")
        return spark.createDataFrame(labels), "<pandas DataFrame>"
    path = str(labels)
    fmt = labels_format or _format_of(path)
    reader = spark.read.option("header", True).option("inferSchema", True) if fmt == "csv" else spark.read
    if "://" not in path and not Path(path).exists():
        raise LabelsNotFoundError(labels=path)
    try:
        frame = reader.format(fmt).load(path)
        frame.schema  # noqa: B018 - resolving the schema surfaces unreadable files here
    except Exception as exc:
        if "TIMESTAMP(NANOS" in str(exc):
            problem = (
                "nanosecond timestamps, which Spark does not read; write them in microseconds, "
                "e.g. pandas .to_parquet(path, coerce_timestamps='us', allow_truncated_timestamps=True)"
            )
            raise LabelsUnreadableError(labels=path, problem=problem) from None
        problem = f"not a readable {fmt} dataset ({_first_line(exc)}); check the file, or pass --labels-format"
        raise LabelsUnreadableError(labels=path, problem=problem) from None
    return frame, path


def _first_line(exc: Exception) -> str:
    """Spark's message without its stack trace or JVM frames."""
    text = str(getattr(exc, "desc", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _format_of(path: str) -> str:
    if path.rstrip("/").endswith(".csv"):
        return "csv"
    if storage_for(path).exists(join(path, "_delta_log")):
        return "delta"
    return "parquet"


def _label_ts(labels: DataFrame, column: str, where: str) -> DataFrame:

    if type_name(labels, column) not in TIME_TYPES:
        problem = f"is {labels.schema[column].dataType.simpleString()}; it must be a timestamp, date or ISO string"
        raise LabelTimestampError(labels=where, column=column, problem=problem)
    return labels.withColumn(LABEL_TS, as_timestamp(labels, column))


def view_requests(
    spark: SparkSession,
    registry: Registry,
    lake_root: str,
    refs: list[FeatureRef],
    full_feature_names: bool,
    pinned: dict[str, int] | None = None,
) -> tuple[list[ViewRequest], dict[str, dict[str, Any]]]:
    """One request per view, each table read at a pinned Delta version (the latest, or `pinned`)."""
    by_view: dict[str, list[str]] = {}
    for ref in refs:
        if ref.feature not in by_view.setdefault(ref.view, []):
            by_view[ref.view].append(ref.feature)
    requests, tables = [], {}
    for view_name, names in by_view.items():
        view = registry.view(view_name)
        path = table_path(lake_root, view)
        latest = committed_version(path)
        if latest is None:
            raise FeatureTableMissingError(view=view_name, version=view.version, path=path)
        version = (pinned or {}).get(view_name)
        if version is None:
            version = latest
        rows = read_version(spark, path, version)
        features = tuple(registry.feature(view_name, n) for n in names)
        outputs = tuple(f"{view_name}__{n}" if full_feature_names else n for n in names)
        keys = tuple(registry.join_keys(view_name))
        requests.append(ViewRequest(view=view, keys=keys, features=features, output_names=outputs, rows=rows))
        tables[view_name] = {"path": path, "delta_version": version, "view_version": view.version}
    return requests, tables


def _check_names(labels: DataFrame, requests: list[ViewRequest], where: str) -> None:
    from collections import Counter

    names = Counter([*labels.columns, *[n for r in requests for n in r.output_names]])
    clashes = sorted(n for n, c in names.items() if c > 1)
    if clashes:
        raise FeatureNameClashError(names=", ".join(clashes))
    for request in requests:
        for key in request.keys:
            if key not in labels.columns:
                hint = f"; view {request.view.name} joins on {', '.join(request.keys)}"
                raise LabelColumnMissingError(labels=where, column=key, available=", ".join(labels.columns), hint=hint)
            actual, expected = labels.schema[key].dataType, request.rows.schema[key].dataType
            if _key_kind(actual) != _key_kind(expected):
                raise LabelKeyTypeError(labels=where, column=key, actual=actual.simpleString(),
                                        view=request.view.name, expected=expected.simpleString())  # fmt: skip


_NUMBERS = {"ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType"}


def _key_kind(kind: Any) -> str:
    """Key types that join by value: any number with any other (pandas makes an integer key
    with nulls a float64); otherwise the same type. A string or boolean key for a numeric one
    is refused: "007" and 7 may or may not be the same entity."""
    return "number" if type(kind).__name__ in _NUMBERS else kind.simpleString()


# Up to this many label rows, feature rows are first cut to the labels' entities (a broadcast
# semi-join on the keys): the sort behind the point-in-time join then sees only those. A small
# label set usually names a small share of the entities (the demo's 15k labels: ~14% of 100k
# users; its spark-submit went from 33-36 s to 26-27 s); a large one names most of them, and
# the distinct keys would be too big to broadcast for no gain.
ENTITY_PRUNING_MAX_LABELS = 200_000


def _label_entities_only(rows: DataFrame, labels: DataFrame, keys: tuple[str, ...], label_rows: int) -> DataFrame:
    from pyspark.sql import functions as F

    if label_rows > ENTITY_PRUNING_MAX_LABELS:
        return rows
    entities = labels.select(*keys).dropna().distinct()  # a null key matches no feature row anyway
    return rows.join(F.broadcast(entities), list(keys), "left_semi")


def _is_parquet(labels: Any, labels_format: str | None) -> bool:
    if not isinstance(labels, (str, Path)):
        return False
    return (labels_format or _format_of(str(labels))) == "parquet"


def _label_stats(frame: DataFrame, column: str, parquet: bool) -> dict[str, Any]:
    """Rows, time range (epoch micros), unparsable and null times of the labels: from the
    parquet footers when they hold it (offline.footers), else one Spark job."""
    from pyspark.sql import functions as F

    files = local_parquet_files(frame) if parquet and type_name(frame, column) == "TimestampType" else None
    footers = None if files is None else time_stats(files, column)
    if footers is not None:
        return {"n": footers.rows, "lo": footers.lo, "hi": footers.hi, "bad": 0, "null": footers.nulls}
    return (
        frame.agg(
            F.count(F.lit(1)).alias("n"),
            F.min(F.unix_micros(LABEL_TS)).alias("lo"),
            F.max(F.unix_micros(LABEL_TS)).alias("hi"),
            F.sum(F.when(F.col(LABEL_TS).isNull() & F.col(column).isNotNull(), 1)).alias("bad"),
            F.sum(F.when(F.col(column).isNull(), 1)).alias("null"),
        )
        .collect()[0]
        .asDict()
    )


def output_rows(spark: SparkSession, output: str, fmt: str) -> int:
    """Rows of a written training set: the footers' counts for local parquet, else a count."""
    frame = spark.read.format(fmt).load(output)
    files = local_parquet_files(frame) if fmt == "parquet" else None
    return row_count(files) if files is not None else frame.count()


def build(
    spark: SparkSession,
    registry: Registry,
    lake_root: str,
    labels: Any,
    refs: list[FeatureRef],
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
    labels_format: str | None = None,
    pinned: dict[str, int] | None = None,
) -> tuple[DataFrame, TrainingSetInfo]:
    """The training set as a lazy DataFrame, plus what it reads (checks run eagerly)."""

    started = time.monotonic()
    frame, where = read_labels(spark, labels, labels_format)
    if timestamp_column not in frame.columns:
        raise LabelColumnMissingError(labels=where, column=timestamp_column, available=", ".join(frame.columns),
                                      hint="; name it with --timestamp-column")  # fmt: skip
    requests, tables = view_requests(spark, registry, lake_root, refs, full_feature_names, pinned)
    _check_names(frame, requests, where)
    frame = _label_ts(frame, timestamp_column, where)
    stats = _label_stats(frame, timestamp_column, parquet=_is_parquet(labels, labels_format))
    if not stats["n"]:
        raise EmptyLabelsError(labels=where)
    if stats["bad"] or stats["null"]:
        problem = f"has {stats['bad'] or 0} unparsable and {stats['null'] or 0} null value(s)"
        raise LabelTimestampError(labels=where, column=timestamp_column, problem=problem)
    pruned = [
        ViewRequest(r.view, r.keys, r.features, r.output_names, _label_entities_only(
            prune_rows(r, stats["lo"], stats["hi"]), frame, r.keys, int(stats["n"])))
        for r in requests
    ]  # fmt: skip
    info = TrainingSetInfo(
        feature_refs=[str(r) for r in refs],
        registry_version=None,
        view_versions={v: t["view_version"] for v, t in tables.items()},
        tables=tables,
        labels=where,
        timestamp_column=timestamp_column,
        full_feature_names=full_feature_names,
        label_rows=int(stats["n"]),
    )
    info.timings_s["checks"] = round(time.monotonic() - started, 3)
    return as_of_join(frame, pruned), info


# A training set's columns are mostly distinct values (times, doubles): parquet's dictionary
# encoding fills a dictionary per column chunk, finds it too large and falls back to plain,
# which cost ~1 s of a 1M-label build. Plain from the start: files ~8% larger, same values.
# Delta passes only fs.* options to its writer, so a delta output keeps the dictionaries.
OUTPUT_WRITE_OPTIONS = {"parquet": {"parquet.enable.dictionary": "false"}}


def write_atomically(frame: DataFrame, output: str, fmt: str, overwrite: bool) -> None:
    """Write to a sibling staging folder, then move it into place: a failed build leaves no output.

    Locally the move is a rename (atomic). On an object store it is a copy then a delete,
    so the metadata file, written after it, is what says the output is complete."""
    storage = storage_for(output)
    if storage.exists(output) and not overwrite:
        raise OutputExistsError(path=output)
    parent, name = output.rstrip("/").rsplit("/", 1) if "/" in output.rstrip("/") else (".", output)
    _remove_leftovers(parent, name)
    staging = join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        frame.write.format(fmt).options(**OUTPUT_WRITE_OPTIONS.get(fmt, {})).save(staging)
        if storage.exists(output):
            old = join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
            storage.move_tree(output, old)
            storage.move_tree(staging, output)
            storage.delete_tree(old)
        else:
            storage.move_tree(staging, output)
    finally:
        if storage.exists(staging):
            storage.delete_tree(staging)


def _remove_leftovers(parent: str, name: str) -> None:
    """Delete what a killed build of the same output left beside it (a staging folder, or the
    previous output moved aside). Two builds into one output at once are not supported: the
    later one removes the other's staging folder, so that one fails; neither leaves a partial output."""
    storage = storage_for(parent)
    for leftover in storage.list(parent, hidden=True):
        if leftover.startswith((f".{name}.tmp-", f".{name}.old-")):
            storage.delete_tree(join(parent, leftover))


def metadata_path(output: str) -> str:
    return f"{output.rstrip('/')}.metadata.json"


def write_metadata(info: TrainingSetInfo, output: str, lake_root: str | None = None) -> str:
    """The metadata beside the output, and a copy in the lake's `_training_sets/` (the
    catalog's lineage lists the training sets built from each view from there)."""
    path = metadata_path(output)
    document = info.to_json().encode()
    storage_for(path).write(path, document)
    if lake_root is not None:
        stamp = info.built_at.replace(":", "").replace("-", "").split("+")[0]
        name = f"{stamp}-{hashlib.blake2b(output.encode(), digest_size=4).hexdigest()}.json"
        try:  # a reader may build training sets from a lake it cannot write: the set itself is done
            storage_for(lake_root).write(join(lake_root, TRAINING_SETS_DIR, name), document)
        except (StorageError, OSError) as exc:
            log.warning("training set not recorded in the lake's %s (%s)", TRAINING_SETS_DIR, exc)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    location = str(path)
    try:
        data: dict[str, Any] = json.loads(storage_for(location).read(location))
    except StorageNotFoundError:
        raise TrainingSetMetadataMissingError(path=location) from None
    return data
