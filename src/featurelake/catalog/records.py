"""What the lake already records about a view, read without Spark (the catalog answers in
milliseconds): Delta's commit log, the validation gate's records, the per-day statistics,
the training sets built, the last consistency check. Each reader returns plain data and an
empty list (or None) when nothing was recorded yet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from featurelake.offline.delta_log import read_commit_info
from featurelake.offline.tables import table_path
from featurelake.offline.training_set import TRAINING_SETS_DIR
from featurelake.offline.writer import DAYS_METADATA
from featurelake.online.consistency import consistency_record_path
from featurelake.specs.models import FeatureView
from featurelake.storage import StorageError, StorageNotFoundError, join, storage_for
from featurelake.validation.stats import FeatureStats, stats_dir

HISTORY_LIMIT = 50  # newest commits read per view page: one GET each on an object store
TRAINING_SETS_LIMIT = 200


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp_ms: int
    operation: str
    rows_written: int | None
    days: tuple[str, str] | None  # the day range a featurelake commit replaced


def delta_history(lake_root: str, view: FeatureView, limit: int = HISTORY_LIMIT) -> list[Commit]:
    """The newest `limit` commits of the view's Delta table, newest first, from `_delta_log/`."""
    table = table_path(lake_root, view)
    log = join(table, "_delta_log")
    storage = storage_for(log)
    names = [n for n in storage.list(log) if n.endswith(".json") and n[:-5].isdigit()]
    commits = []
    for name in sorted(names, reverse=True)[:limit]:
        try:
            info = read_commit_info(table, int(name[:-5]))
        except StorageNotFoundError:  # cleaned up by log retention between list and read
            continue
        commits.append(_commit(int(name[:-5]), info or {}))
    return commits


def _commit(version: int, info: dict[str, Any]) -> Commit:
    metrics = info.get("operationMetrics") or {}
    rows = metrics.get("numOutputRows")
    try:
        days = json.loads(info.get("userMetadata") or "{}").get(DAYS_METADATA)
    except ValueError:
        days = None
    return Commit(
        version=version,
        timestamp_ms=int(info.get("timestamp", 0)),
        operation=str(info.get("operation", "?")),
        rows_written=None if rows is None else int(rows),
        days=(str(days[0]), str(days[1])) if days else None,
    )


def stats_series(lake_root: str, view: FeatureView) -> list[FeatureStats]:
    """The statistics stored for each published day, oldest first."""
    folder = stats_dir(lake_root, view)
    storage = storage_for(folder)
    series = []
    for name in storage.list(folder):
        if name.endswith(".json"):
            series.append(FeatureStats.from_json(storage.read(join(folder, name)).decode()))
    return sorted(series, key=lambda s: s.day)


def training_sets(lake_root: str, limit: int = TRAINING_SETS_LIMIT) -> list[dict[str, Any]]:
    """The metadata of the newest training sets built against this lake, newest first."""
    folder = join(lake_root, TRAINING_SETS_DIR)
    storage = storage_for(folder)
    found = []
    for name in sorted((n for n in storage.list(folder) if n.endswith(".json")), reverse=True)[:limit]:
        try:
            found.append(json.loads(storage.read(join(folder, name))))
        except (StorageError, ValueError):
            continue
    return found


def last_consistency(lake_root: str, view: FeatureView) -> dict[str, Any] | None:
    path = consistency_record_path(lake_root, view)
    try:
        return dict(json.loads(storage_for(path).read(path)))
    except (StorageNotFoundError, ValueError):
        return None
