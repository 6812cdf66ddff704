"""Per-partition statistics of each feature: null rate, min, max, mean, stddev.

No distinct count: nothing read it, and even HyperLogLog++ at 5% error was two thirds of
this job (1.5 of 2.3 s on 3.4M rows; exact counts would cost a shuffle each). Files
written before keep theirs (`ColumnStats.distinct`), read as before.

Computed in one Spark aggregation over the batch (grouped by partition), stored as one
JSON file per published partition: `<lake_root>/_validation/stats/<view>/v<version>/<date>.json`.
Drift checks compare a new batch with the newest stored partition before it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from featurelake.offline.tables import EVENT_TIMESTAMP, PARTITION
from featurelake.specs.models import FeatureView
from featurelake.storage import join, storage_for

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

_ORDERED = {"int64", "double", "timestamp", "string", "bool"}
_NUMERIC = {"int64", "double"}


@dataclass(frozen=True)
class ColumnStats:
    null_rate: float
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    stddev: float | None = None


@dataclass(frozen=True)
class FeatureStats:
    view: str
    version: int
    day: date
    rows: int
    run: str
    features: dict[str, ColumnStats]
    # The newest event time of the partition: what freshness checks read for offline views.
    newest_event_us: int | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return json.dumps(data, default=str, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureStats:
        data = json.loads(text)
        features = {name: ColumnStats(**values) for name, values in data.pop("features").items()}
        return cls(**{**data, "day": date.fromisoformat(data["day"]), "features": features})


def stats_dir(lake_root: str, view: FeatureView) -> str:
    return join(lake_root, "_validation", "stats", view.name, f"v{view.version}")


def compute_stats(rows: DataFrame, view: FeatureView, run: str) -> list[FeatureStats]:
    """One aggregation job: stats of every feature for every partition of `rows`."""
    return stats_of_days(rows.groupBy(PARTITION).agg(*stats_aggregations(view)).collect(), view, run)


def stats_aggregations(view: FeatureView) -> list[Column]:
    """The aggregations (over rows of the view's shape, grouped by partition) that `stats_of_days`
    reads: a caller may group with more of its own in the same job."""
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("_rows"), F.unix_micros(F.max(EVENT_TIMESTAMP)).alias("_newest_us")]
    for i, feature in enumerate(view.features):
        col = F.col(f"`{feature.name}`")
        aggs.append(F.count(col).alias(f"{i}_n"))
        if feature.dtype in _ORDERED:
            aggs += [
                F.min(col).alias(f"{i}_min"),
                F.max(col).alias(f"{i}_max"),
            ]
        if feature.dtype in _NUMERIC:
            aggs += [F.avg(col).alias(f"{i}_mean"), F.stddev_pop(col).alias(f"{i}_stddev")]
    return aggs


def stats_of_days(days: list[Row], view: FeatureView, run: str) -> list[FeatureStats]:
    """FeatureStats from the collected result of `stats_aggregations` grouped by partition."""
    result = []
    for row in days:
        values = row.asDict()
        total = int(values["_rows"])
        features = {
            f.name: ColumnStats(
                null_rate=(1 - values[f"{i}_n"] / total) if total else 0.0,
                min=values.get(f"{i}_min"),
                max=values.get(f"{i}_max"),
                mean=values.get(f"{i}_mean"),
                stddev=values.get(f"{i}_stddev"),
            )
            for i, f in enumerate(view.features)
        }
        newest = values["_newest_us"]
        result.append(FeatureStats(view.name, view.version, values[PARTITION], total, run, features, newest))
    return sorted(result, key=lambda s: s.day)


def store_stats(lake_root: str, view: FeatureView, stats: list[FeatureStats], start: date, end: date) -> None:
    """Write each partition's file atomically (a rerun of a day replaces its file); days of
    [start, end] that were republished empty lose theirs."""
    folder = stats_dir(lake_root, view)
    storage = storage_for(folder)
    kept = {s.day.isoformat() for s in stats}
    for day in _stored_days(folder):
        if start.isoformat() <= day <= end.isoformat() and day not in kept:
            storage.delete(join(folder, f"{day}.json"))
    for day_stats in stats:
        storage.write(join(folder, f"{day_stats.day.isoformat()}.json"), day_stats.to_json().encode())


def _stored_days(folder: str) -> list[str]:
    return sorted(n.removesuffix(".json") for n in storage_for(folder).list(folder) if n.endswith(".json"))


def previous_stats(lake_root: str, view: FeatureView, before: date | None = None) -> FeatureStats | None:
    """The newest stored partition strictly before `before` (or the newest of all), if any."""
    folder = stats_dir(lake_root, view)
    limit = before.isoformat() if before else "9999-12-31"
    days = [d for d in _stored_days(folder) if d < limit]
    if not days:
        return None
    location = join(folder, f"{days[-1]}.json")
    return FeatureStats.from_json(storage_for(location).read(location).decode())
