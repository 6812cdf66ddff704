"""Idempotent writes of a date range into a view's Delta table.

`replaceWhere` over the range: a rerun replaces exactly the same partitions with the same
rows, runs of disjoint ranges do not conflict, and a failed job commits nothing (Delta's
atomic commit), so the table stays as it was.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from featurelake.offline.delta_log import commit_infos, read_commit_info
from featurelake.offline.tables import PARTITION, committed_version
from featurelake.storage import is_object_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DAYS_METADATA = "featurelake_days"  # commit userMetadata: the [first, last] day a write replaced
_NO_DAYS_CHANGED = ("OPTIMIZE", "VACUUM START", "VACUUM END", "CREATE TABLE")  # operations that replace no day
_RETRYABLE = ("ConcurrentAppendException", "ProtocolChangedException", "MetadataChangedException",
              "ConcurrentDeleteReadException", "already exists", "DELTA_CONCURRENT")  # fmt: skip


def range_predicate(start: date, end: date) -> str:
    return f"{PARTITION} >= '{start.isoformat()}' AND {PARTITION} <= '{end.isoformat()}'"


def replace_range(
    spark: SparkSession, path: str, rows: DataFrame, start: date, end: date, attempts: int = 5
) -> tuple[int, dict[str, str]]:
    """Replace partitions [start, end] with `rows`; returns the Delta version and its operation metrics."""

    # One file per date partition: readers (training sets, materialization) pay per file.
    rows = rows.repartition(PARTITION)
    for attempt in range(attempts):
        try:
            (
                # The first write creates the table (partitioned by date) in the same commit. Two
                # creators at once (publishing holds the table's lease, so only without it): the
                # loser's commit conflicts and is retried against the table the winner created.
                rows.write.format("delta")
                .mode("overwrite")
                .partitionBy(PARTITION)
                .option("replaceWhere", range_predicate(start, end))
                # Which days this commit replaced: incremental materialization reads only those.
                .option("userMetadata", json.dumps({DAYS_METADATA: [start.isoformat(), end.isoformat()]}))
                .save(path)
            )
            break
        except Exception as exc:
            if attempt == attempts - 1 or not any(marker in str(exc) for marker in _RETRYABLE):
                raise
            time.sleep(0.2 * (attempt + 1))
    commit = _newest_commit(spark, path)
    return int(commit["version"]), dict(commit.get("operationMetrics") or {})


def _newest_commit(spark: SparkSession, path: str) -> dict[str, Any]:
    """The table's newest commit (its version, operation metrics, ...)."""
    from delta.tables import DeltaTable

    newest = None if is_object_store(path) else committed_version(path)
    info = None if newest is None else read_commit_info(path, newest)  # log cleanup never removes the newest
    if info is not None:
        return {**info, "version": newest}
    return DeltaTable.forPath(spark, path).history(1).collect()[0].asDict()


def days_since(spark: SparkSession, path: str, after_version: int) -> list[tuple[date, date]] | None:
    """Day ranges replaced by commits after `after_version`; None when one is not ours, or (local
    tables) no longer in the log: then the caller reads everything."""
    if not is_object_store(path):
        commits = commit_infos(path, after_version)
        return None if commits is None else _replaced_days(commits)
    return _days_since_by_history(spark, path, after_version)


def _days_since_by_history(spark: SparkSession, path: str, after_version: int) -> list[tuple[date, date]] | None:
    """`days_since` through Delta's `history()`, which lists only the commits still in the log:
    when the first one after `after_version` was cleaned up, what it replaced is unknown (None)."""
    from delta.tables import DeltaTable

    commits = DeltaTable.forPath(spark, path).history().where(f"version > {after_version}").collect()
    if commits and min(int(c["version"]) for c in commits) != after_version + 1:
        return None
    return _replaced_days(commits)


def days_ever_written(spark: SparkSession, path: str) -> list[tuple[date, date]] | None:
    """Day ranges replaced by every commit since the table was created; None when one is not
    ours, or when the log no longer reaches back to the creation (cleaned-up history)."""
    from delta.tables import DeltaTable

    if not is_object_store(path):
        logged = commit_infos(path)
        return _replaced_days(logged) if logged else None
    commits = DeltaTable.forPath(spark, path).history().collect()
    if not commits or min(int(c["version"]) for c in commits) != 0:
        return None
    return _replaced_days(commits)


def _replaced_days(commits: list[Any]) -> list[tuple[date, date]] | None:
    """`commits`: Delta's history rows, or the commitInfo of each commit read from the log."""
    ranges = []
    for commit in commits:
        commit = commit if isinstance(commit, dict) else commit.asDict()
        metadata = json.loads(commit["userMetadata"]) if commit.get("userMetadata") else {}
        if DAYS_METADATA in metadata:
            start, end = metadata[DAYS_METADATA]
            ranges.append((date.fromisoformat(start), date.fromisoformat(end)))
        elif commit["operation"] not in _NO_DAYS_CHANGED and not _empty_append(commit):
            return None
    return sorted(ranges)


def _empty_append(commit: Any) -> bool:
    """An append of no files (how featurelake created tables before their first write): it changed no day."""
    mode = (commit.get("operationParameters") or {}).get("mode")
    return mode == "Append" and (commit.get("operationMetrics") or {}).get("numFiles") == "0"


def each_day(ranges: list[tuple[date, date]]) -> list[str]:
    """Every day of the ranges, ISO-formatted, sorted, once."""
    from datetime import timedelta

    days: set[str] = set()
    for start, end in ranges:
        days.update((start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    return sorted(days)
