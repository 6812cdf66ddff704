"""Faults around the online store, on an S3 lake with a password-protected Redis (both
secrets given by the environment only): a backfill racing a materialize, and redis-server
killed while materialize writes. Short form: one round each; `pytest --soak`: 10 each."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import date, timedelta

import pytest

from featurelake.offline.tables import table_path
from featurelake.online.consistency import check_consistency
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.materialize import materialize_view, read_watermark
from featurelake.registry import load_registry

VIEW = "user_stats"
pytestmark = pytest.mark.slow


def _run(lake, args: list[str], timeout_s: float = 600) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(lake.cli(*args), env=lake.env, capture_output=True, text=True, timeout=timeout_s, check=False)


def _secret_free(lake, *texts: str) -> None:  # type: ignore[no-untyped-def]
    assert all(lake.password not in t and os.environ["AWS_SECRET_ACCESS_KEY"] not in t for t in texts)


def test_a_backfill_racing_a_materialize_loses_no_commit_and_serves_nothing_stale(
    guarded_lake, spark, soak: bool, seed, headers, never_older
) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    lake, registry = guarded_lake, load_registry(guarded_lake.conf)
    view = registry.view(VIEW)
    path, client = table_path(lake.conf.lake_root, view), lake.client()
    prefix, mark_key = view_prefix(registry.project, VIEW, view.version), watermark_key(registry.project, VIEW, 1)
    rng = random.Random(f"{seed}-race")
    for round_ in range(10 if soak else 1):
        first = date(2025, 1, 3 + round_ % 4)  # replaces published days and adds new ones
        before, version = headers(client, prefix), DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
        args = ["backfill", VIEW, "--start", str(first), "--end", str(first + timedelta(days=2))]
        backfill = subprocess.Popen(lake.cli(*args), env=lake.env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(rng.uniform(0, 12))  # the materialize starts anywhere in the backfill's run
        materialize = _run(lake, ["materialize", VIEW])
        out, err = backfill.communicate(timeout=600)
        assert (backfill.returncode, materialize.returncode) == (0, 0), (err[-2000:], materialize.stderr[-2000:])
        _secret_free(lake, out, err, materialize.stdout, materialize.stderr)

        table = spark.read.format("delta").load(path)
        assert table.groupBy("user_id", "event_timestamp").count().where("count > 1").count() == 0
        commits = DeltaTable.forPath(spark, path).history().where(f"version > {version}").collect()
        assert [c["operation"] for c in commits] == ["WRITE"]  # the backfill's commit, not lost
        never_older(before, headers(client, prefix))
        mark = read_watermark(client, mark_key)
        assert mark is not None and mark.delta_version <= commits[0]["version"]
        materialize_view(spark, lake.conf, registry, VIEW)  # the next scheduled run catches up
        report = check_consistency(spark, lake.conf, registry, VIEW, sample=None)
        assert report.consistent and report.checked > 0, report.mismatches[:3]
    client.close()


def _blocked_writer(client, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if int(client.info("clients")["blocked_clients"]) > 0:
            return True
        time.sleep(0.02)
    return False


def test_redis_killed_during_materialize_is_a_clear_error_and_the_next_run_completes(
    guarded_lake, spark, soak: bool, seed
) -> None:  # type: ignore[no-untyped-def]
    """Even rounds kill redis-server while a write is in flight (writes held by CLIENT PAUSE
    until a writer waits, so the kill lands mid-write); odd rounds at a random moment."""
    lake, registry = guarded_lake, load_registry(guarded_lake.conf)
    mark_key = watermark_key(registry.project, VIEW, 1)
    rng = random.Random(f"{seed}-redis-kill")
    failed = 0
    for round_ in range(10 if soak else 1):
        client = lake.client()
        before = read_watermark(client, mark_key)
        if round_ % 2 == 0:
            client.client_pause(120_000, all=False)  # writes wait; reads (the watermark) go on
        run = subprocess.Popen(lake.cli("materialize", VIEW, "--full"), env=lake.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        if round_ % 2 == 0:
            assert _blocked_writer(client, 120), "materialize never reached its writes"
        else:
            time.sleep(rng.uniform(3, 25))
        os.kill(lake.redis.pid() or 0, signal.SIGKILL)
        started = time.monotonic()
        out, err = run.communicate(timeout=120)  # no hang: the client timeout bounds it
        waited = time.monotonic() - started
        if run.returncode != 0:
            failed += 1
            assert run.returncode == 1 and "Traceback" not in err, err[-3000:]
            said = ("failed while writing" in err and "watermark did not move" in err) or "cannot reach Redis" in err
            assert said and f"127.0.0.1:{lake.redis.port}" in err, err[-3000:]
        _secret_free(lake, out, err)
        lake.restart_redis()  # from its append-only file, as an operator's restart would
        client = lake.client()
        if run.returncode != 0:
            assert read_watermark(client, mark_key) == before
        assert materialize_view(spark, lake.conf, registry, VIEW).entities >= 0  # the next run completes
        report = check_consistency(spark, lake.conf, registry, VIEW, sample=None)
        assert report.consistent and report.checked > 0, report.mismatches[:3]
        client.close()
        print(f"redis killed during materialize (round {round_}): exit {run.returncode} {waited:.1f} s after")
    assert failed >= 1
