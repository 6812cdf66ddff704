"""A deterministic e-commerce dataset for the shipped feature repo (demo, tests, benchmarks).

Raw sources under `<lake_root>/raw/`, parquet partitioned by `date` (UTC day of the event):
orders, sessions, product_views (events), user_stats (daily risk snapshots with a
`created` time) and user_embeddings (daily 16-d float32 vectors, unit norm). Users have a
latent activity level and churn day, so features carry signal for the demo's model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset  # here, not lazily in pq.write_to_dataset: run_demo's generator thread imports nothing
import pyarrow.parquet as pq

EMBEDDING_DIM = 16
CHANNELS = np.array(["web", "ios", "android"])
DEVICES = np.array(["desktop", "ios", "android"])


@dataclass(frozen=True)
class DatasetSize:
    users: int = 2_000
    products: int = 500
    days: int = 30
    start: date = date(2025, 1, 1)
    orders_per_user_day: float = 0.08
    sessions_per_user_day: float = 0.5
    views_per_session: float = 3.0
    seed: int = 7


DEFAULT_SIZE = DatasetSize()
# `make demo`: about 100k users and a few million events over 90 days.
DEMO_SIZE = DatasetSize(users=100_000, products=5_000, days=90, sessions_per_user_day=0.15, views_per_session=2.0)


@dataclass(frozen=True)
class UserTraits:
    activity: np.ndarray  # relative activity level
    churn_day: np.ndarray  # day index after which the user is gone (days = never)


def user_traits(size: DatasetSize, rng: np.random.Generator) -> UserTraits:
    activity = rng.gamma(1.5, 1.0, size.users)
    churns = rng.random(size.users) < 0.7 / (1.0 + activity)  # quieter users leave more often
    churn_day = np.where(churns, rng.integers(size.days // 3, size.days + 1, size.users), size.days * 10)
    return UserTraits(activity=activity, churn_day=churn_day)


FADE_DAYS = 21


def _event_times(size: DatasetSize, rng: np.random.Generator, traits: UserTraits, rate: float) -> pd.DataFrame:
    """Poisson events per user and day, fading over the weeks before each user's churn day
    (where the churn model's signal comes from) and stopping there."""
    users = np.arange(size.users)
    days_left = traits.churn_day[:, None] - np.arange(size.days)[None, :]
    fade = np.clip(days_left / FADE_DAYS, 0.1, 1.0)
    per_day = rng.poisson(traits.activity[:, None] * rate * fade)
    per_day[days_left <= 0] = 0
    user_idx, day_idx = np.nonzero(per_day)
    counts = per_day[user_idx, day_idx]
    user_id = np.repeat(users[user_idx], counts)
    day = np.repeat(day_idx, counts)
    seconds = rng.integers(0, 86_400, len(day))
    ts = pd.Timestamp(size.start, tz="UTC") + pd.to_timedelta(day * 86_400 + seconds, unit="s")
    return pd.DataFrame({"user_id": user_id.astype(np.int64), "ts": ts})


def _write(frame: pd.DataFrame, lake_root: Path, name: str, ts_column: str, vectors: np.ndarray | None = None) -> int:
    """Parquet partitioned by the UTC day, rows in time order. `vectors` (n x dim float32) is
    the `embedding` column, handed to Arrow as one flat buffer (a column of 8M small arrays
    through pandas took longer than everything else the demo generates)."""
    target = lake_root / "raw" / name
    if target.exists():
        shutil.rmtree(target)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if vectors is not None:
        offsets = pa.array(np.arange(len(vectors) + 1, dtype=np.int32) * vectors.shape[1])
        embedding = pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1)), type=pa.list_(pa.float32()))
        table = table.append_column("embedding", embedding)
    table = table.take(pa.array(np.argsort(frame[ts_column].array.asi8, kind="stable")))
    table = table.append_column("date", pc.cast(table[ts_column], pa.date32()))
    pq.write_to_dataset(table, root_path=str(target), partition_cols=["date"], coerce_timestamps="us",
                        allow_truncated_timestamps=True, existing_data_behavior="delete_matching")  # fmt: skip
    return len(frame)


# The order generate() writes the raw sources in (each a folder under <lake_root>/raw/).
SOURCES = ("orders", "sessions", "product_views", "user_stats", "user_embeddings")


def generate(
    lake_root: Path | str,
    size: DatasetSize = DEFAULT_SIZE,
    only: set[str] | None = None,
    written: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Write the raw sources (all, or `only` these), in SOURCES order; returns row counts.
    `written(name)` is called as each is complete. Same size and seed -> same data."""

    def done(name: str, rows: int) -> None:
        counts[name] = rows
        if written:
            written(name)

    lake = Path(lake_root)
    rng = np.random.default_rng(size.seed)
    traits = user_traits(size, rng)
    counts: dict[str, int] = {}

    orders = _event_times(size, rng, traits, size.orders_per_user_day).rename(columns={"ts": "order_ts"})
    n = len(orders)
    orders.insert(0, "order_id", np.arange(n, dtype=np.int64))
    orders["product_id"] = rng.zipf(1.6, n).clip(1, size.products).astype(np.int64) - 1
    orders["amount"] = rng.gamma(2.0, 25.0, n).round(2) * (1 + traits.activity[orders.user_id] / 4)
    orders["quantity"] = rng.integers(1, 5, n).astype(np.int64)
    orders["channel"] = rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2])
    if only is None or "orders" in only:
        done("orders", _write(orders, lake, "orders", "order_ts"))

    sessions = _event_times(size, rng, traits, size.sessions_per_user_day).rename(columns={"ts": "session_start"})
    n = len(sessions)
    sessions.insert(0, "session_id", np.arange(n, dtype=np.int64))
    sessions["duration_s"] = rng.exponential(300.0, n).round(1)
    sessions["pages"] = rng.poisson(4, n).astype(np.int64) + 1
    sessions["device"] = rng.choice(DEVICES, n)
    if only is None or "sessions" in only:
        done("sessions", _write(sessions, lake, "sessions", "session_start"))

    views = sessions.loc[sessions.index.repeat(rng.poisson(size.views_per_session, len(sessions)))]
    view_delay = pd.to_timedelta(rng.integers(0, 600, len(views)), unit="s")
    views = pd.DataFrame({
        "user_id": views.user_id.to_numpy(),
        "product_id": (rng.zipf(1.4, len(views)).clip(1, size.products) - 1).astype(np.int64),
        "view_ts": views.session_start.reset_index(drop=True) + view_delay,
        "dwell_s": rng.exponential(40.0, len(views)).round(1),
    })  # fmt: skip
    if only is None or "product_views" in only:
        done("product_views", _write(views, lake, "product_views", "view_ts"))
    if only is None or "user_stats" in only:
        done("user_stats", _write(_snapshots(size, rng, traits), lake, "user_stats", "event_timestamp"))
    if only is None or "user_embeddings" in only:
        frame, vectors = _embeddings(size, rng, traits)
        done("user_embeddings", _write(frame, lake, "user_embeddings", "event_timestamp", vectors))
    return counts


def _daily_users(size: DatasetSize, traits: UserTraits) -> pd.DataFrame:
    users, days = np.meshgrid(np.arange(size.users), np.arange(size.days), indexing="ij")
    alive = days < traits.churn_day[:, None]
    return pd.DataFrame({"user_id": users[alive].astype(np.int64), "day": days[alive]})


def _snapshots(size: DatasetSize, rng: np.random.Generator, traits: UserTraits) -> pd.DataFrame:
    snap = _daily_users(size, traits)
    snap = snap[rng.random(len(snap)) < 0.6]  # the risk export skips users some days
    n = len(snap)
    midnight = pd.Timestamp(size.start, tz="UTC") + pd.to_timedelta(snap.day.to_numpy() * 86_400, unit="s")
    snap_ts = midnight + pd.Timedelta(hours=2)
    return pd.DataFrame({
        "user_id": snap.user_id.to_numpy(),
        "event_timestamp": snap_ts,
        "created": snap_ts + pd.to_timedelta(rng.integers(60, 3_600, n), unit="s"),
        "purchases_7d": rng.poisson(traits.activity[snap.user_id] * 0.6).astype(np.int64),
        "spend_30d": (rng.gamma(2.0, 30.0, n) * traits.activity[snap.user_id]).round(2),
        "refunds_30d": rng.poisson(0.2, n).astype(np.int64),
        "account_age_days": (snap.day.to_numpy() + rng.integers(30, 2_000, n)).astype(np.int64),
    })  # fmt: skip


def _embeddings(size: DatasetSize, rng: np.random.Generator, traits: UserTraits) -> tuple[pd.DataFrame, np.ndarray]:
    daily = _daily_users(size, traits)
    base = rng.normal(size=(size.users, EMBEDDING_DIM))
    users = daily.user_id.to_numpy()
    vectors = np.empty((len(daily), EMBEDDING_DIM), dtype=np.float32)
    # In blocks: the same draws in the same order as one call, without 1 GB temporaries.
    for lo in range(0, len(daily), 1 << 18):
        block = users[lo : lo + (1 << 18)]
        v = base[block] + 0.1 * rng.normal(size=(len(block), EMBEDDING_DIM))
        v[:, 0] += traits.activity[block]  # one direction carries activity
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        vectors[lo : lo + len(block)] = v
    ts = pd.Timestamp(size.start, tz="UTC") + pd.to_timedelta(daily.day.to_numpy() * 86_400 + 4 * 3_600, unit="s")
    frame = pd.DataFrame({"user_id": users, "event_timestamp": ts})
    return frame, vectors


def churn_labels(size: DatasetSize, n: int = 5_000, horizon_days: int = 7) -> pd.DataFrame:
    """Labels for the demo's model: does a user churn within `horizon_days` of the label time?

    Label times fall in the last third of the dataset, so features have history behind them.
    """
    rng = np.random.default_rng(size.seed + 1)
    traits = user_traits(size, np.random.default_rng(size.seed))
    if size.days <= horizon_days + 1:
        raise ValueError(f"a dataset of {size.days} days is too short for a {horizon_days}-day churn horizon")
    first_day = min(size.days * 2 // 3, size.days - horizon_days - 1)
    day = rng.integers(first_day, size.days - horizon_days, n)
    users = rng.integers(0, size.users, n)
    alive = day < traits.churn_day[users]
    users, day = users[alive], day[alive]
    seconds = rng.integers(0, 86_400, len(day))
    return pd.DataFrame({
        "user_id": users.astype(np.int64),
        "event_timestamp": pd.Timestamp(size.start, tz="UTC") + pd.to_timedelta(day * 86_400 + seconds, unit="s"),
        "churned": (traits.churn_day[users] <= day + horizon_days).astype(np.int64),
    })  # fmt: skip
