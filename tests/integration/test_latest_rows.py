"""The latest-rows snapshot (offline.latest) against a pandas oracle of the Delta table.

A row view's table is written day by day from random snapshots (ties on event_timestamp broken
by created_timestamp, entities appearing and vanishing); between publishes the snapshot is
refreshed at chosen versions, so reading it as of a later version must patch it with the
replaced days, or regroup the whole table when a republished day removed an entity's
latest row. Every read must equal the newest row per entity of the table, computed naively.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake.offline.latest import WrittenDays, latest_dir, read_latest, refresh_latest
from featurelake.offline.tables import table_path
from featurelake.offline.writer import replace_range
from featurelake.registry.compile import compile_repo
from featurelake.registry.model import Registry

SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - {name: snaps, format: parquet, path: raw/snaps, timestamp: ts, created_timestamp: created}
feature_view:
  name: snaps_latest
  version: 1
  entity: user
  source: snaps
  owner: test
  ttl: 30d
  features:
    - {name: score, dtype: double}
    - {name: tier, dtype: string}
"""
COLUMNS = ["user_id", "event_timestamp", "created_timestamp", "score", "tier"]
SCHEMA = ("user_id long, event_timestamp timestamp, created_timestamp timestamp, score double, tier string, "
          "date date")  # fmt: skip


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    repo = tmp_path_factory.mktemp("latest_specs")
    (repo / "view.yaml").write_text(SPEC)
    return compile_repo(repo, "latest")


def random_snapshots(seed: int, users: int = 60, days: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = users * 4
    user_ids, hours = rng.integers(0, users, n), rng.integers(0, days * 24, n)
    hours = np.where(user_ids >= users - 12, hours % 72, hours)  # quiet users: rows on the first 3 days only
    frame = pd.DataFrame(
        {"user_id": user_ids, "ts": pd.Timestamp("2025-05-01", tz="UTC") + pd.to_timedelta(hours, "h")}
    )
    frame["created"] = frame["ts"] + pd.to_timedelta(rng.integers(0, 3, n), unit="min")
    frame = frame.drop_duplicates(["user_id", "ts", "created"])
    ties = frame.sample(frac=0.2, random_state=seed).assign(created=lambda f: f.created + pd.Timedelta(minutes=5))
    frame = pd.concat([frame, ties], ignore_index=True)  # same event time, a later created: that one wins
    frame["score"] = np.where(rng.random(len(frame)) < 0.1, np.nan, rng.normal(size=len(frame)).round(3))
    frame["tier"] = rng.choice(["a", "b", None], len(frame))
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _publish(spark, registry: Registry, lake: Path, source: pd.DataFrame, start: date, end: date) -> int:  # type: ignore[no-untyped-def]
    """Replace days [start, end] of the view's table with the snapshots of those days, as a publish does
    (compute and validation are tested elsewhere; here only the table's commits matter)."""
    return _publish_rows(spark, registry, lake, source, start, end)[0]


def _publish_rows(spark, registry: Registry, lake: Path, source: pd.DataFrame, start: date, end: date):  # type: ignore[no-untyped-def]
    days = source[(source.ts.dt.date >= start) & (source.ts.dt.date <= end)]
    rows = pd.DataFrame({"user_id": days.user_id, "event_timestamp": days.ts, "created_timestamp": days.created,
                         "score": days.score, "tier": days.tier, "date": days.ts.dt.date})  # fmt: skip
    path = table_path(str(lake), registry.view("snaps_latest"))
    frame = spark.createDataFrame(rows, schema=SCHEMA).cache()
    version, _ = replace_range(spark, path, frame, start, end)
    return int(version), WrittenDays(frame, start, end)


def _oracle(spark, registry: Registry, lake: Path, version: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    path = table_path(str(lake), registry.view("snaps_latest"))
    table = spark.read.format("delta").option("versionAsOf", version).load(path).toPandas()
    newest = table.sort_values(["event_timestamp", "created_timestamp"]).groupby("user_id").tail(1)
    return newest[COLUMNS].sort_values("user_id").reset_index(drop=True)


def _assert_latest(spark, registry: Registry, lake: Path, version: int, source: str) -> None:  # type: ignore[no-untyped-def]
    read = read_latest(spark, str(lake), registry.view("snaps_latest"), ["user_id"], version)
    got = read.rows.toPandas()[COLUMNS].sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _oracle(spark, registry, lake, version), check_dtype=False)
    assert read.source == source


def test_latest_rows_equal_the_newest_row_per_entity_through_patches_and_republished_days(
    spark, registry: Registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    lake, view = tmp_path / "lake", registry.view("snaps_latest")
    source = random_snapshots(seed=5)
    day = source.ts.dt.date

    v1 = _publish(spark, registry, lake, source, date(2025, 5, 1), date(2025, 5, 6))
    _assert_latest(spark, registry, lake, v1, "whole table")  # no snapshot yet
    assert refresh_latest(spark, str(lake), view, ["user_id"], v1)
    _assert_latest(spark, registry, lake, v1, "latest rows")

    # Newer days arrive, and day 3 is republished with new values (same times, a later
    # created) and without some users: the users whose latest row lay on day 3 keep one there.
    _publish(spark, registry, lake, source, date(2025, 5, 7), date(2025, 5, 10))
    latest_before = _oracle(spark, registry, lake, v1)
    assert (latest_before.event_timestamp.dt.date == date(2025, 5, 3)).any(), "random data: latest rows on day 3"
    changed = source.copy()
    on_day_3 = day == date(2025, 5, 3)
    changed.loc[on_day_3, "created"] += pd.Timedelta(hours=1)
    changed.loc[on_day_3, "score"] = 99.0
    keep = set(latest_before.user_id[latest_before.event_timestamp.dt.date == date(2025, 5, 3)])
    changed = changed[~(on_day_3 & ~changed.user_id.isin(keep))]
    v3 = _publish(spark, registry, lake, changed, date(2025, 5, 3), date(2025, 5, 3))
    _assert_latest(spark, registry, lake, v3, "latest rows + 5 replaced day(s)")  # days 3, 7, 8, 9, 10
    assert refresh_latest(spark, str(lake), view, ["user_id"], v3)

    # Day 10 republished without the users whose latest row was there: their latest is
    # now on an older, unreplaced day, which only the whole table has.
    latest_v3 = _oracle(spark, registry, lake, v3)
    gone = set(latest_v3.user_id[latest_v3.event_timestamp.dt.date == date(2025, 5, 10)])
    assert gone
    dropped = changed[~((changed.ts.dt.date == date(2025, 5, 10)) & changed.user_id.isin(gone))]
    v4 = _publish(spark, registry, lake, dropped, date(2025, 5, 10), date(2025, 5, 10))
    _assert_latest(spark, registry, lake, v4, "whole table")

    # A snapshot newer than the version asked for is not used; old snapshots are pruned.
    assert refresh_latest(spark, str(lake), view, ["user_id"], v4)
    _assert_latest(spark, registry, lake, v3, "whole table")
    assert len(list(Path(latest_dir(str(lake), view)).glob("source-*"))) == 2
    # A snapshot whose columns are not the view's (a feature added without a version bump) is not used.
    fewer = view.model_copy(update={"features": view.features[:1]})
    assert read_latest(spark, str(lake), fewer, ["user_id"], v4).source == "whole table"


def test_a_publish_refreshes_the_snapshot_from_the_rows_it_wrote(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What publish_rows does: the snapshot of the version before, patched with the written rows
    (no read of the table back), or, when that cannot be exact, the table regrouped."""
    lake, view = tmp_path / "lake", registry.view("snaps_latest")
    source = random_snapshots(seed=11)
    v1, written = _publish_rows(spark, registry, lake, source, date(2025, 5, 1), date(2025, 5, 6))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v1, written)  # no snapshot before: regrouped
    _assert_latest(spark, registry, lake, v1, "latest rows")
    v2, written = _publish_rows(spark, registry, lake, source, date(2025, 5, 4), date(2025, 5, 10))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v2, written)
    _assert_latest(spark, registry, lake, v2, "latest rows")

    # Day 10 republished without the users whose latest row was there: not patchable, regrouped.
    latest = _oracle(spark, registry, lake, v2)
    gone = set(latest.user_id[latest.event_timestamp.dt.date == date(2025, 5, 10)])
    assert gone
    dropped = source[~((source.ts.dt.date == date(2025, 5, 10)) & source.user_id.isin(gone))]
    v3, written = _publish_rows(spark, registry, lake, dropped, date(2025, 5, 10), date(2025, 5, 10))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v3, written)
    _assert_latest(spark, registry, lake, v3, "latest rows")

    # Written rows of a version that does not follow the snapshot's are not used.
    _publish(spark, registry, lake, source, date(2025, 5, 2), date(2025, 5, 2))
    v5, written = _publish_rows(spark, registry, lake, source, date(2025, 5, 10), date(2025, 5, 10))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v5, written)
    _assert_latest(spark, registry, lake, v5, "latest rows")


def test_a_first_publish_keeps_the_newest_written_rows_unless_the_table_holds_other_days(
    spark, registry: Registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """With no snapshot yet, the newest written rows are the snapshot only when every commit
    replaced days inside the written range; otherwise (here: earlier days, where the quiet
    users' only rows are) the table is regrouped."""
    from featurelake.offline.writer import days_ever_written

    view = registry.view("snaps_latest")
    source = random_snapshots(seed=17)
    first = tmp_path / "first"
    v1, written = _publish_rows(spark, registry, first, source, date(2025, 5, 1), date(2025, 5, 10))
    assert days_ever_written(spark, table_path(str(first), view)) == [(date(2025, 5, 1), date(2025, 5, 10))]
    assert refresh_latest(spark, str(first), view, ["user_id"], v1, written)
    _assert_latest(spark, registry, first, v1, "latest rows")

    lake = tmp_path / "lake"
    _publish(spark, registry, lake, source, date(2025, 5, 1), date(2025, 5, 3))  # no snapshot refreshed
    v2, written = _publish_rows(spark, registry, lake, source, date(2025, 5, 4), date(2025, 5, 10))
    quiet = set(source.user_id[source.ts.dt.date <= date(2025, 5, 3)]) - set(
        source.user_id[source.ts.dt.date > date(2025, 5, 3)]
    )
    assert quiet, "random data: users with rows on the first days only"
    assert refresh_latest(spark, str(lake), view, ["user_id"], v2, written)
    _assert_latest(spark, registry, lake, v2, "latest rows")


def test_a_rerun_of_every_written_day_takes_its_rows_as_they_are(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A snapshot of the version before exists, but the new commit replaced every day the table
    ever held: the newest written rows are the snapshot, including for users the rerun dropped
    (whose rows the old snapshot still had)."""
    lake, view = tmp_path / "lake", registry.view("snaps_latest")
    source = random_snapshots(seed=23)
    v1, written = _publish_rows(spark, registry, lake, source, date(2025, 5, 1), date(2025, 5, 10))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v1, written)
    dropped = source[source.user_id % 5 != 0].assign(created=lambda f: f.created + pd.Timedelta(hours=1))
    v2, written = _publish_rows(spark, registry, lake, dropped, date(2025, 5, 1), date(2025, 5, 10))
    assert refresh_latest(spark, str(lake), view, ["user_id"], v2, written)
    _assert_latest(spark, registry, lake, v2, "latest rows")
    assert not (read_latest(spark, str(lake), view, ["user_id"], v2).rows.toPandas().user_id % 5 == 0).any()
