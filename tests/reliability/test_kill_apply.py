"""`featurelake apply` killed with SIGKILL at a random moment (seeded), on a local lake and
on the S3 lake: the registry always loads as the old or the new version, never a broken
one, and the next apply succeeds. Short form here; `pytest --soak` kills 25 times per lake."""

from __future__ import annotations

import os
import random
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

from featurelake.config import load_config
from featurelake.registry import apply_specs
from featurelake.registry.store import RegistryStore

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("where", ["local", "s3"])
def test_apply_killed_at_random_points_leaves_the_old_or_the_new_registry(
    where: str, s3_server, redis_server, make_test_conf, repo_root: Path, tmp_path: Path, soak: bool, kill_after, seed
) -> None:  # type: ignore[no-untyped-def]
    lake = str(tmp_path / "lake") if where == "local" else f"s3a://lake/kill-apply-{uuid.uuid4().hex[:8]}"
    conf = load_config(make_test_conf(tmp_path, redis_server.url, lake), env={**os.environ})
    specs = tmp_path / "specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    apply_specs(specs, conf)
    store = RegistryStore(conf.lake_root)
    rng = random.Random(seed)
    command = [str(BIN / "featurelake"), "apply", "--repo", str(specs), "--conf", str(conf.source_file)]
    # Each round changes a description, so every apply has something to write.
    spec = next(specs.rglob("user_stats.yaml"))
    original = spec.read_text()
    spec.write_text(original.replace("description: Risk snapshots", "description: Timed risk snapshots"))
    started = time.monotonic()
    assert kill_after(command, 120, {**os.environ}) == 0  # one clean run: how long an apply takes
    duration = time.monotonic() - started
    completed = killed = 0
    for round_ in range(25 if soak else 4):
        before = store.current_version()
        spec.write_text(original.replace("description: Risk snapshots", f"description: Round {round_} risk snapshots"))
        code = kill_after(command, rng.uniform(0.05, duration), {**os.environ})
        after = store.current_version()
        assert after in {before, (before or 0) + 1}, (before, after)
        registry = store.load()  # loads: never a broken or half-written version
        assert registry is not None and {"user_stats", "user_orders"} <= set(registry.views)
        if code is None:
            killed += 1
        else:
            assert code == 0
            completed += 1
            assert after == (before or 0) + 1
    spec.write_text(original)  # differs from every round's text: there is something to apply
    before = store.current_version()
    assert apply_specs(specs, conf)[1] == (before or 0) + 1  # no leftover of a killed apply blocks the next
    orphans = len(store.storage.list(store.versions_dir)) - len(store.history())
    print(f"apply on {where}: {killed} killed, {completed} completed, {orphans} version file(s) left unlinked "
          f"by kills between the two writes, in {time.monotonic() - started:.0f} s")  # fmt: skip
