"""The latest-rows snapshot refresh killed with SIGKILL at a seeded random moment, on the S3
lake: `refresh_loop.py` refreshes `user_stats`'s snapshot again and again (writing a new
snapshot, moving CURRENT.json, pruning old ones) until killed, so nearly every kill lands
inside a refresh. After every kill readers get a correct snapshot (older or newer) and the
one named is whole; a backfill then commits a new version for the next round. Short form:
one kill; `pytest --soak`: 20."""

from __future__ import annotations

import random
import sys
from datetime import date
from pathlib import Path

import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.registry import load_registry

pytestmark = pytest.mark.slow
LOOP = Path(__file__).with_name("refresh_loop.py")


def test_snapshot_refresh_killed_at_random_points_leaves_readers_a_correct_snapshot(
    guarded_lake, spark, tmp_path: Path, soak: bool, kill_after, seed, latest_rows_true
) -> None:  # type: ignore[no-untyped-def]
    lake = guarded_lake
    done = tmp_path / "refreshes.txt"
    command = [sys.executable, str(LOOP), str(lake.conf.source_file), "user_stats", str(done)]
    rng = random.Random(f"{seed}-refresh")
    versions = set()
    for round_ in range(20 if soak else 1):
        # The loop's JVM starts in about 8 s; each refresh then takes 1-2 s.
        delay = rng.uniform(12, 30) if soak else rng.uniform(11, 15)
        assert kill_after(command, delay, lake.env) is None, "the loop ends only when killed"
        versions.add(latest_rows_true(spark, lake.conf, "user_stats"))
        day = date(2025, 1, 1 + round_ % 8)  # a new commit (its own refresh included) for the next round
        backfill_view(spark, load_registry(lake.conf), "user_stats", lake.conf.lake_root, day, day)
    assert None not in versions
    refreshes = len(done.read_text().splitlines())
    assert refreshes > 0, "no refresh finished before a kill: the kills fell in the loop's start-up only"
    print(f"snapshot refresh: {round_ + 1} kills after {refreshes} finished refreshes; readers always correct "
          f"(snapshot source versions seen: {sorted(versions)})")  # fmt: skip
