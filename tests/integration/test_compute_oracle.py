"""Windowed aggregations against a brute-force pandas oracle, through a point-in-time read.

For random label times t, the feature table read as of t (greatest event_timestamp <= t
within the ttl; count defaults to 0 when no row matches) must equal the aggregate over
the events in [m - window, m), m the last midnight <= t, computed naively in pandas.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.registry.compile import compile_repo
from featurelake.registry.model import Registry

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2025-03-01", tz="UTC")
BACKFILL = (date(2025, 3, 10), date(2025, 4, 10))

SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - {name: orders, format: parquet, path: raw/orders, timestamp: order_ts}
feature_view:
  name: orders_oracle
  version: 1
  entity: user
  source: orders
  owner: test
  ttl: 40d
  features:
    - {name: n_7d, dtype: int64, aggregation: {function: count, window: 7d}}
    - {name: n_amount_1h, dtype: int64, expression: amount, aggregation: {function: count, window: 1h}}
    - {name: spend_30d, dtype: double, expression: amount, aggregation: {function: sum, window: 30d}}
    - {name: avg_36h, dtype: double, expression: amount, aggregation: {function: avg, window: 36h}}
    - {name: min_7d, dtype: double, expression: amount, aggregation: {function: min, window: 7d}}
    - {name: max_qty_2d, dtype: int64, expression: qty, aggregation: {function: max, window: 2d}}
    - {name: last_channel_30d, dtype: string, expression: channel, aggregation: {function: last, window: 30d}}
"""
WINDOWS = {"n_7d": 7 * DAY, "n_amount_1h": pd.Timedelta(hours=1), "spend_30d": 30 * DAY,
           "avg_36h": pd.Timedelta(hours=36), "min_7d": 7 * DAY, "max_qty_2d": 2 * DAY,
           "last_channel_30d": 30 * DAY}  # fmt: skip


def random_events(seed: int, users: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for user in range(users):
        style = rng.integers(0, 4)
        n = {0: 3, 1: 25, 2: 60, 3: 8}[int(style)]
        if style == 3:  # goes quiet: only early events, then their windows must decay
            secs = rng.integers(0, 12 * 86400, n)
        elif style == 2:  # bursts: many events in a few hours
            centers = rng.integers(0, 45 * 86400, 3)
            secs = (rng.choice(centers, n) + rng.integers(0, 4 * 3600, n)).astype(np.int64)
        else:
            secs = rng.integers(0, 45 * 86400, n)
        parts.append(pd.DataFrame({"user_id": user, "sec": secs}))
    events = pd.concat(parts, ignore_index=True)
    # edges: events exactly on midnights and exactly one window before a midnight
    edges = pd.DataFrame(
        {"user_id": [1, 1, 2, 2, 3], "sec": [15 * 86400, 22 * 86400, 20 * 86400 - 1, 20 * 86400, 30 * 86400]}
    )
    events = pd.concat([events, edges, events.sample(frac=0.1, random_state=seed)], ignore_index=True)  # same-time ties
    events["order_ts"] = START + pd.to_timedelta(events.pop("sec"), unit="s")
    n = len(events)
    events["amount"] = np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 30.0, n).round(2))
    events["qty"] = pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(1, 9, n)), dtype="Int64")
    events["channel"] = np.where(rng.random(n) < 0.1, None, rng.choice(["web", "ios", "android"], n))
    return events.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # out of order


def oracle(events: pd.DataFrame, user: int, t: pd.Timestamp) -> dict[str, object]:
    m = t.floor("D")
    mine = events[events.user_id == user]
    result: dict[str, object] = {}
    for name, window in WINDOWS.items():
        w = mine[(mine.order_ts >= m - window) & (mine.order_ts < m)]
        amounts = w.amount.dropna()
        if name == "n_7d":
            result[name] = len(w)
        elif name == "n_amount_1h":
            result[name] = len(amounts)
        elif name == "spend_30d":
            result[name] = amounts.sum()  # 0 over no values, like count
        elif name == "avg_36h":
            result[name] = amounts.mean() if len(amounts) else None
        elif name == "min_7d":
            result[name] = amounts.min() if len(amounts) else None
        elif name == "max_qty_2d":
            qty = w.qty.dropna()
            result[name] = int(qty.max()) if len(qty) else None
        else:
            valid = w.dropna(subset=["channel"])
            result[name] = valid.sort_values(["order_ts", "channel"]).channel.iloc[-1] if len(valid) else None
    return result


def as_of(table: pd.DataFrame, user: int, t: pd.Timestamp, ttl: pd.Timedelta) -> pd.Series | None:
    rows = table[(table.user_id == user) & (table.event_timestamp <= t) & (table.event_timestamp >= t - ttl)]
    return None if rows.empty else rows.sort_values("event_timestamp").iloc[-1]


def same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return b is None or (isinstance(b, float) and np.isnan(b))
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and abs(float(a) - float(b)) < 1e-6 * max(1.0, abs(float(a)))  # type: ignore[arg-type]
    return a == b


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    repo = tmp_path_factory.mktemp("oracle_specs")
    (repo / "specs.yaml").write_text(SPEC)
    return compile_repo(repo, "oracle")


@pytest.mark.parametrize("seed", [1, 2])
def test_aggregates_match_the_oracle_at_random_label_times(
    spark, registry: Registry, tmp_path: Path, seed: int
) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    events = random_events(seed)
    (lake / "raw" / "orders").mkdir(parents=True)
    events.to_parquet(
        lake / "raw" / "orders" / "part-0.parquet", coerce_timestamps="us", allow_truncated_timestamps=True
    )

    result = backfill_view(spark, registry, "orders_oracle", str(lake), *BACKFILL)
    assert result.source_events > 0 and result.rows_written > 0

    table = spark.read.format("delta").load(result.table).toPandas()
    table["event_timestamp"] = pd.to_datetime(table.event_timestamp, utc=True)
    assert not table.duplicated(["user_id", "event_timestamp"]).any()
    assert (pd.to_datetime(table.date).dt.date.between(*BACKFILL)).all()

    rng = np.random.default_rng(seed + 100)
    first_m = pd.Timestamp(BACKFILL[0] + timedelta(days=1), tz="UTC")
    span = (pd.Timestamp(BACKFILL[1] + timedelta(days=2), tz="UTC") - first_m).total_seconds()
    labels = [
        (int(u), first_m + pd.Timedelta(seconds=int(s)))
        for u, s in zip(rng.integers(0, 42, 400), rng.integers(0, span, 400), strict=False)
    ]
    labels += [(3, first_m + k * DAY) for k in range(0, 30, 3)]  # the quiet user, on midnights
    ttl = pd.Timedelta(days=40)
    mismatches = []
    for user, t in labels:
        expected = oracle(events, user, t)
        row = as_of(table, user, t, ttl)
        for name, want in expected.items():
            got = None if row is None else row[name]
            if row is None and (name.startswith("n_") or name == "spend_30d"):
                got = 0  # the default of counts and sums when no row matches
            if isinstance(got, float) and np.isnan(got):
                got = None
            if not same(want, got):
                mismatches.append(f"user {user} t={t} {name}: oracle {want!r} table {got!r}")
    assert not mismatches, "\n".join(mismatches[:20])
