"""The latest-rows snapshot refresh killed with SIGKILL at a seeded random moment, on the S3
lake: `refresh_loop.py` refreshes `user_stats`'s snapshot again and again (writing a new
snapshot, moving CURRENT.json, pruning old ones) and is killed during its first, second or
third refresh (at a random moment up to 1.5 s after it started, so a few kills fall just after
one ends). After every kill readers get a correct snapshot (older or newer) and the
one named is whole; a backfill then commits a new version for the next round. Short form:
one kill; `pytest --soak`: 20."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.registry import load_registry

pytestmark = pytest.mark.slow
LOOP = Path(__file__).with_name("refresh_loop.py")


def test_snapshot_refresh_killed_at_random_points_leaves_readers_a_correct_snapshot(
    guarded_lake, spark, tmp_path: Path, soak: bool, seed, latest_rows_true
) -> None:  # type: ignore[no-untyped-def]
    lake = guarded_lake
    log = tmp_path / "refreshes.txt"
    command = [sys.executable, str(LOOP), str(lake.conf.source_file), "user_stats", str(log)]
    rng = random.Random(f"{seed}-refresh")
    versions, inside = set(), 0
    for round_ in range(20 if soak else 1):
        # Killed during its 1st-3rd refresh (the 1st in the short form), up to 1.5 s after it started.
        _kill_during_refresh(command, lake.env, log, rng.randint(1, 3) if soak else 1, rng.uniform(0, 1.5))
        lines = log.read_text().splitlines()
        inside += lines[-1].startswith("start")  # else it was between two refreshes
        log.write_text("")
        versions.add(latest_rows_true(spark, lake.conf, "user_stats"))
        day = date(2025, 1, 1 + round_ % 8)  # a new commit (its own refresh included) for the next round
        backfill_view(spark, load_registry(lake.conf), "user_stats", lake.conf.lake_root, day, day)
    assert None not in versions
    assert inside > 0 or not soak, "no kill landed inside a refresh"
    print(f"snapshot refresh: {round_ + 1} kills, {inside} of them inside a refresh; readers always correct "
          f"(snapshot source versions seen: {sorted(versions)})")  # fmt: skip


def _kill_during_refresh(command: list[str], env: dict[str, str], log: Path, starts: int, extra_s: float) -> None:
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while (log.read_text().count("start") if log.exists() else 0) < starts:
        assert process.poll() is None, "the refresh loop died by itself"
        assert time.monotonic() < deadline, "no refresh started in 300 s"
        time.sleep(0.05)
    time.sleep(extra_s)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
