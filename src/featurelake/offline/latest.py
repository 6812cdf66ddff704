"""The latest row per entity of a view: a small snapshot kept beside the view's table.

`<lake_root>/_latest/<view>/v<version>/` holds immutable snapshots, one directory of
parquet files per version of the feature table they were computed from
(`source-<N>-<id>/`: the row with the greatest (event_timestamp, created_timestamp) of
every entity, with the table's columns), and `CURRENT.json`, replaced atomically, naming
the one to read and its source version N. A snapshot is always a true statement about
one version of the table, so a refresh that loses a race to a newer one leaves a
correct, older snapshot, never a wrong one. It is a derived cache, not a Delta table:
Delta's per-query planning (about 0.5 s here) would cost more than reading it.

Publishing an online view refreshes it; `materialize --full` reads it plus the days
replaced since its source version instead of regrouping the whole history. Patching
relies on featurelake's layout: a row's `date` is the day of its event_timestamp (the
day before it, for aggregated views), so a later day always holds newer rows. When a
replaced day removed an entity's latest row and no newer row replaces it, or a commit
is not featurelake's, the whole table is regrouped instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, PARTITION, table_path
from featurelake.offline.writer import days_ever_written, days_since, each_day
from featurelake.specs.models import FeatureView
from featurelake.storage import StorageError, is_object_store, join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

POINTER = "CURRENT.json"
KEEP_SNAPSHOTS = 2  # the current one and the one before, which a reader may still be reading
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatestRows:
    rows: DataFrame
    source: str  # "latest rows", "latest rows + N replaced day(s)", "whole table"


def latest_dir(lake_root: str, view: FeatureView) -> str:
    return join(lake_root, "_latest", view.name, f"v{view.version}")


def newest_rows(rows: DataFrame, keys: list[str]) -> DataFrame:
    """One row per entity, the greatest (event_timestamp, created_timestamp), with the same columns."""
    from pyspark.sql import functions as F

    order = F.struct(F.col(EVENT_TIMESTAMP), F.col(CREATED_TIMESTAMP))
    others = [c for c in rows.columns if c not in keys]
    picked = rows.groupBy(*keys).agg(F.max_by(F.struct(*[F.col(f"`{c}`") for c in others]), order).alias("_r"))
    return picked.select(*keys, *[F.col(f"_r.`{c}`").alias(c) for c in others])


def read_latest(spark: SparkSession, lake_root: str, view: FeatureView, keys: list[str], version: int) -> LatestRows:
    """The newest row per entity of the view's table as of Delta `version`."""
    table = spark.read.format("delta").option("versionAsOf", version)
    path = table_path(lake_root, view)
    stored = _stored_latest(spark, latest_dir(lake_root, view), latest_columns(view, keys))
    if stored is None or stored[1] > version:
        return LatestRows(newest_rows(table.load(path), keys), "whole table")
    latest, source_version = stored
    if source_version == version:
        return LatestRows(latest, "latest rows")
    ranges = days_since(spark, path, source_version)
    days = None if ranges is None else each_day(ranges)
    patched = None if days is None else _patch(latest, table.load(path), keys, days)
    if days is None or patched is None:
        return LatestRows(newest_rows(table.load(path), keys), "whole table")
    return LatestRows(patched, f"latest rows + {len(days)} replaced day(s)")


def latest_columns(view: FeatureView, keys: list[str]) -> set[str]:
    """The columns of a snapshot: the feature table's."""
    return {*keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *(f.name for f in view.features), PARTITION}


@dataclass(frozen=True)
class WrittenDays:
    """What commit `version` did: replaced days [start, end] with `rows` (a cached frame)."""

    rows: DataFrame
    start: date
    end: date


def refresh_latest(
    spark: SparkSession,
    lake_root: str,
    view: FeatureView,
    keys: list[str],
    version: int,
    written: WrittenDays | None = None,
) -> bool:
    """Write the snapshot as of `version` and point CURRENT.json at it; False (logged) if that failed.

    Called after a publish has committed: the feature table is already right, and a
    snapshot left at an older version stays correct (readers patch it), so a failed
    refresh is reported, not raised. A publish passes what it wrote: when the stored
    snapshot is of the version just before, it is patched from those rows without
    reading the table back."""
    root = latest_dir(lake_root, view)
    name = f"source-{version}-{uuid.uuid4().hex[:12]}"
    try:
        rows = _after_write(spark, lake_root, view, keys, version, written)
        if rows is None:
            rows = read_latest(spark, lake_root, view, keys, version).rows
        rows.repartition(max(1, spark.sparkContext.defaultParallelism)).write.parquet(join(root, name))
        _point_at(root, name, version)
    except Exception as exc:  # see the docstring: the publish itself succeeded
        _forget(join(root, name))
        log.warning("latest rows of %s v%s not refreshed (%s); materialize --full regroups instead",
                    view.name, view.version, str(exc).splitlines()[0][:300])  # fmt: skip
        return False
    _drop_old_snapshots(root, keep=name)
    return True


def _after_write(
    spark: SparkSession, lake_root: str, view: FeatureView, keys: list[str], version: int, written: WrittenDays | None
) -> DataFrame | None:
    """The latest rows as of `version` from the snapshot of `version - 1` and the rows commit
    `version` wrote; None when there is no such snapshot (or it cannot be patched exactly)."""
    if written is None:
        return None
    # The table holds only the written rows (a first backfill, or a rerun of the whole range):
    # group them, still cached, rather than patch a snapshot with all of them. Asked first where
    # the log is read without Spark; on an object store reading it costs a request per commit,
    # so only when there is no snapshot to patch.
    local = not is_object_store(lake_root)
    if local and _only_written_days(spark, lake_root, view, written):
        return newest_rows(written.rows, keys)
    stored = _stored_latest(spark, latest_dir(lake_root, view), latest_columns(view, keys))
    if stored is None and not local and _only_written_days(spark, lake_root, view, written):
        return newest_rows(written.rows, keys)
    if stored is None or stored[1] != version - 1:
        return None
    return _patch(stored[0], written.rows, keys, each_day([(written.start, written.end)]))


def _only_written_days(spark: SparkSession, lake_root: str, view: FeatureView, written: WrittenDays) -> bool:
    """Whether every commit of the table is featurelake's and replaced days inside the written
    range: then the table holds only the written rows (a first backfill, or reruns of it)."""
    ranges = days_ever_written(spark, table_path(lake_root, view))
    return ranges is not None and all(written.start <= lo and hi <= written.end for lo, hi in ranges)


def _forget(location: str) -> None:
    # A leftover folder no pointer names is never read; the next prune takes it.
    with contextlib.suppress(StorageError):
        storage_for(location).delete_tree(location)


def _point_at(root: str, name: str, version: int) -> None:
    """Move CURRENT.json to `name` unless it already names a newer source version.

    A compare-and-swap: a refresh that read the pointer, then lost the race to another,
    retries on what the winner wrote, so the pointer only ever moves forward."""
    storage = storage_for(root)
    pointer = join(root, POINTER)
    doc = json.dumps({"snapshot": name, "source_version": version}).encode()
    for attempt in range(5):
        current = _read_pointer(root)
        if current is not None and current[1] > version:
            return
        try:
            storage.replace(pointer, doc, None if current is None else current[2])
            return
        except StorageError:
            if attempt == 4:
                raise


def _read_pointer(root: str) -> tuple[str, int, str] | None:
    """(snapshot name, source version, token) of CURRENT.json; None when missing or unreadable."""
    try:
        current = storage_for(root).read_versioned(join(root, POINTER))
        doc = json.loads(current.data)
        return str(doc["snapshot"]), int(doc["source_version"]), current.token
    except (StorageError, ValueError, KeyError, TypeError):
        return None


def _snapshot_version(name: str) -> int:
    try:
        return int(name.split("-")[1])
    except (IndexError, ValueError):
        return -1


def _drop_old_snapshots(root: str, keep: str) -> None:
    storage = storage_for(root)
    current = _read_pointer(root)
    live = {keep, current[0] if current else keep}
    snapshots = sorted((n for n in storage.list(root) if n.startswith("source-")), key=_snapshot_version)
    for old in [n for n in snapshots if n not in live][: max(0, len(snapshots) - KEEP_SNAPSHOTS)]:
        _forget(join(root, old))


def _stored_latest(spark: SparkSession, root: str, columns: set[str]) -> tuple[DataFrame, int] | None:
    """The snapshot CURRENT.json names and its source version; None if missing or not of these columns."""
    current = _read_pointer(root)
    if current is None:
        return None
    snapshot = join(root, current[0])
    if not storage_for(snapshot).exists(join(snapshot, "_SUCCESS")):
        return None
    rows = spark.read.parquet(snapshot)
    return (rows, current[1]) if set(rows.columns) == columns else None


def stored_snapshot_files(lake_root: str, view: FeatureView, version: int) -> list[str] | None:
    """The parquet files of the snapshot CURRENT.json names, if it is complete and of `version`."""
    root = latest_dir(lake_root, view)
    current = _read_pointer(root)
    if current is None or current[1] != version:
        return None
    snapshot = join(root, current[0])
    storage = storage_for(snapshot)
    if not storage.exists(join(snapshot, "_SUCCESS")):
        return None
    files = [join(snapshot, name) for name in storage.list(snapshot) if name.endswith(".parquet")]
    return files or None


def _patch(latest: DataFrame, table: DataFrame, keys: list[str], days: list[str]) -> DataFrame | None:
    """Latest rows with the replaced `days` re-read from the table; None when that cannot be exact.

    An entity whose latest row lay in a replaced day is settled by the replaced days only
    if they still hold a row of it on that day or later; otherwise its latest row is in an
    older, unread day and the caller regroups the whole table."""
    from pyspark.sql import functions as F

    in_days = F.col(PARTITION).isin(*days)
    # Computed once (the check below and the result both read it): grouping the replaced days
    # is the costly part, 2 s for 60 days of 3.4M rows.
    changed = newest_rows(table.where(in_days), keys).localCheckpoint()
    displaced = latest.where(in_days).select(*[F.col(k).alias(f"_d{i}") for i, k in enumerate(keys)],
                                             F.col(PARTITION).alias("_was"))  # fmt: skip
    settled = changed.select(*[F.col(k).alias(f"_s{i}") for i, k in enumerate(keys)], F.col(PARTITION).alias("_now"))
    same_entity = [F.col(f"_d{i}").eqNullSafe(F.col(f"_s{i}")) for i in range(len(keys))]
    unsettled = displaced.join(settled, same_entity, "left").where(
        F.col("_now").isNull() | (F.col("_now") < F.col("_was"))
    )
    if not unsettled.isEmpty():
        return None
    return newest_rows(latest.where(~in_days).unionByName(changed), keys)
