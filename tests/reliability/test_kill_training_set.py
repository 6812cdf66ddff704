"""`featurelake training-set --overwrite` killed with SIGKILL (the CLI, its JVM and Python
workers) at a seeded random moment while a watcher lists the output path every 10 ms: the
path never shows a partial output (whatever is there is a whole, finished set of files),
and the rerun's output equals a clean build. Features from the S3 lake, output on the
local disk (the case where the move into place is a rename). Short form: one kill;
`pytest --soak`: 20."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake import FeatureStore
from featurelake.offline.training_set import metadata_path

pytestmark = pytest.mark.slow
FEATURES = "user_stats:purchases_7d,user_stats:spend_30d,user_stats:spend_per_purchase"


class OutputWatcher:
    """Lists `output` every 10 ms; keeps every listing that was not a finished output."""

    def __init__(self, output: Path) -> None:
        self.output, self.partial, self.seen = output, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                names = sorted(p.name for p in self.output.iterdir())
            except FileNotFoundError:
                names = None
            if names is not None:
                self.seen += 1
                if "_SUCCESS" not in names or not any(n.endswith(".parquet") for n in names):
                    self.partial.append(names)  # Spark writes _SUCCESS after every part file
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _labels(path: Path, rng: np.random.Generator) -> Path:
    n = 3_000
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 90, n),  # some users the lake does not know
            "event_timestamp": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 5 * 86400, n), "s"),
            "label": rng.integers(0, 2, n),
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    frame.to_parquet(path)
    return path


def _read(output: Path) -> pd.DataFrame:
    frame = pd.read_parquet(output)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_training_set_killed_at_random_points_never_shows_a_partial_output(
    guarded_lake, spark, tmp_path: Path, soak: bool, kill_after, seed
) -> None:  # type: ignore[no-untyped-def]
    lake = guarded_lake
    labels = _labels(tmp_path / "labels.parquet", np.random.default_rng(seed))
    output = tmp_path / "training" / "churn"
    command = lake.cli("training-set", "--labels", str(labels), "--features", FEATURES, "--output", str(output),
                       "--overwrite")  # fmt: skip
    store = FeatureStore(conf=lake.conf, spark=spark)  # the clean build, in this warm process
    store.build_training_set(str(labels), str(output), FEATURES.split(","))
    expected = _read(output)
    assert len(expected) == 3_000 and expected["spend_30d"].notna().any()
    rng = random.Random(f"{seed}-training-set")
    duration, killed = 25.0, 0
    for _ in range(20 if soak else 1):
        watcher = OutputWatcher(output)
        try:
            if kill_after(command, rng.uniform(0.3 * duration, duration), lake.env) is None:
                killed += 1
            if output.exists():  # the old output, or the new one in full
                pd.testing.assert_frame_equal(_read(output), expected)
            rerun = time.monotonic()
            assert kill_after(command, 600, lake.env) == 0
            duration = time.monotonic() - rerun
        finally:
            watcher.stop()
        assert watcher.partial == [], f"partial outputs seen at {output}: {watcher.partial[:3]}"
        assert watcher.seen > 0
        pd.testing.assert_frame_equal(_read(output), expected)
        assert Path(metadata_path(str(output))).exists()
        assert not [p for p in output.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    print(f"training-set: {killed} killed mid-run; no partial output seen; every rerun equal (last {duration:.0f} s)")
