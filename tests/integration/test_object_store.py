"""The lake on an S3 API server (moto, a real HTTP server on loopback) gives the same results as
a local lake: storage contract, registry compare-and-swap, writer leases, backfill through the
validation gate, training sets, materialization, and two writers racing on one table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake import FeatureStore
from featurelake.compute.backfill import backfill_view
from featurelake.config import FeaturelakeConfig, load_config
from featurelake.demo_data import DatasetSize, generate
from featurelake.registry import apply_specs, load_registry
from featurelake.registry.store import ConcurrentApplyError, RegistryStore
from featurelake.storage import (
    BucketMissingError,
    StorageAccessDeniedError,
    StorageConflictError,
    StorageNotFoundError,
    StorageUnreachableError,
    join,
    storage_for,
)
from featurelake.storage.lease import TableLease, TableLeaseTimeoutError
from featurelake.validation.context import ValidationPaths

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SIZE = DatasetSize(users=120, products=30, days=12)
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 10)
VIEWS = ("user_orders", "user_stats")  # an aggregated view and a row view


def table(spark, conf: FeaturelakeConfig, view: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    from featurelake.offline.tables import table_path

    frame = spark.read.format("delta").load(table_path(conf.lake_root, load_registry(conf).view(view))).toPandas()
    frame = frame.drop(columns=["created_timestamp"])  # when it was computed: differs between runs by design
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory, s3_server, redis_server, make_test_conf, repo_root: Path):  # type: ignore[no-untyped-def]
    """The same raw data and specs in a local lake and in an S3 lake."""
    base = tmp_path_factory.mktemp("lakes")
    local = load_config(make_test_conf(base / "local", redis_server.url, base / "local" / "lake", "fl_s3_local"))
    generate(local.lake_root, SIZE)
    s3_root = f"s3a://lake/{uuid.uuid4().hex[:8]}"
    remote = load_config(make_test_conf(base / "s3", redis_server.url, s3_root, "fl_s3_remote"))
    assert storage_for(s3_root).put_tree(Path(local.lake_root) / "raw", join(s3_root, "raw")) > 0
    for conf in (local, remote):
        apply_specs(repo_root / "feature_specs", conf)
    return local, remote


@pytest.mark.parametrize("where", ["local", "s3"])
def test_storage_contract(where: str, s3_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path) if where == "local" else f"s3a://lake/contract-{uuid.uuid4().hex[:8]}"
    storage, pointer = storage_for(root), join(root, "p", "CURRENT")
    first = storage.create(pointer, b"1")
    with pytest.raises(StorageConflictError):
        storage.create(pointer, b"other")
    second = storage.replace(pointer, b"2", first)
    with pytest.raises(StorageConflictError):  # a writer that read "1" loses
        storage.replace(pointer, b"3", first)
    with pytest.raises(StorageConflictError):
        storage.delete(pointer, expected=first)
    assert storage.read_versioned(pointer).data == b"2" and storage.read_versioned(pointer).token == second
    storage.write(join(root, "d", "a", "x.json"), b"x")
    storage.write(join(root, "d", "b.json"), b"y")
    storage.write(join(root, "d", ".staging", "z"), b"z")
    assert storage.list(join(root, "d")) == ["a", "b.json"]
    assert storage.list(join(root, "d"), hidden=True) == [".staging", "a", "b.json"]
    storage.move_tree(join(root, "d"), join(root, "e"))
    assert storage.list(join(root, "e")) == ["a", "b.json"] and not storage.exists(join(root, "d"))
    storage.delete_tree(join(root, "e"))
    assert storage.list(join(root, "e")) == []
    with pytest.raises(StorageNotFoundError):
        storage.read(join(root, "missing"))


def test_object_store_errors_are_typed_and_quick(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BucketMissingError, match="no-such-bucket"):
        storage_for("s3a://no-such-bucket/lake").read("s3a://no-such-bucket/lake/_registry/CURRENT")
    from featurelake.online.redis_server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(StorageUnreachableError, match="AWS_ENDPOINT_URL"):
        storage_for("s3a://lake/x").read("s3a://lake/x/CURRENT")


def _race(lake_root: str, registries: list, current: int | None) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """Apply each registry from its own thread, all released at once; (won|lost, project) each."""
    barrier, outcomes = threading.Barrier(len(registries)), []

    def apply(registry) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            RegistryStore(lake_root).apply(registry, current)
            outcomes.append(("won", registry.project))
        except ConcurrentApplyError:
            outcomes.append(("lost", registry.project))

    threads = [threading.Thread(target=apply, args=(r,)) for r in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_wrong_keys_are_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from featurelake.devservices import start_s3_server

    strict = start_s3_server(tmp_path, check_credentials=True)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", strict.endpoint_url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKNOWNKEY")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-one")
        with pytest.raises(StorageAccessDeniedError, match="AWS_ACCESS_KEY_ID") as refused:
            RegistryStore("s3a://lake/x").current_version()
        assert "not-the-right-one" not in str(refused.value)
    finally:
        strict.stop()


def test_concurrent_applies_on_s3_exactly_one_wins(lakes) -> None:  # type: ignore[no-untyped-def]
    _, remote = lakes
    store = RegistryStore(remote.lake_root)
    live = load_registry(remote)
    start = store.current_version() or 0
    for round_ in range(5):
        candidates = [live.model_copy(update={"project": f"round{round_}-{i}"}) for i in range(2)]
        outcomes = _race(remote.lake_root, candidates, store.current_version())
        won = [project for verdict, project in outcomes if verdict == "won"]
        assert len(won) == 1 and len(outcomes) == 2, outcomes
        assert store.load().project == won[0]  # the winner's registry is live, the loser's never
    assert [v.version for v in store.history()][-5:] == list(range(start + 1, start + 6))
    store.apply(live, store.current_version())  # leave the specs' registry live


def test_table_lease_waits_then_fails_clearly_and_takes_over_a_dead_holder(s3_server) -> None:  # type: ignore[no-untyped-def]
    root = f"s3a://lake/lease-{uuid.uuid4().hex[:8]}"
    with (
        TableLease(root, "features/v/v1", ttl_s=30, wait_s=1),
        pytest.raises(TableLeaseTimeoutError, match="features/v/v1 is being written by"),
    ):
        TableLease(root, "features/v/v1", ttl_s=30, wait_s=0.5).acquire()
    with TableLease(root, "features/v/v1", ttl_s=30, wait_s=1):  # released on exit: free again
        pass
    # A holder killed without releasing: same host, its pid gone -> taken over at once.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = TableLease(root, "features/v/v1", ttl_s=600)
    orphan.storage.create(
        orphan.location, orphan._document().replace(str(os.getpid()).encode(), dead.stdout.strip().encode())
    )
    with TableLease(root, "features/v/v1", ttl_s=30, wait_s=2) as lease:
        assert not lease.lost


@pytest.fixture(scope="module")
def backfilled(lakes, spark):  # type: ignore[no-untyped-def]
    for conf in lakes:
        for view in VIEWS:
            backfill_view(spark, load_registry(conf), view, conf.lake_root, FIRST, LAST,
                          validation=ValidationPaths.from_config(conf), lease=conf.lease)  # fmt: skip
    return lakes


LABEL_TIMES = ["2025-01-05 10:00", "2025-01-08 00:00", "2025-01-10 23:59", "2025-01-10 23:59", "2025-01-03 00:00",
               "2025-01-09 00:00"]  # fmt: skip
LABELS = pd.DataFrame({"user_id": [1, 2, 3, 3, 50, 9999], "event_timestamp": pd.to_datetime(LABEL_TIMES, utc=True),
                       "label": [0, 1, 0, 0, 1, 0]})  # fmt: skip
REFS = ["user_orders:orders_7d", "user_orders:spend_30d", "user_stats:account_age_days"]


def read_set(spark, location: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = spark.read.parquet(location).toPandas()
    return frame.sort_values(["user_id", "event_timestamp", "label"]).reset_index(drop=True)


def test_backfill_training_set_and_materialize_on_s3_equal_a_local_lake(
    backfilled, spark, redis_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    local, remote = backfilled
    for view in VIEWS:
        pd.testing.assert_frame_equal(table(spark, local, view), table(spark, remote, view))
    # What the validation gate and publishing left in the S3 lake, through the storage layer only.
    s3 = storage_for(remote.lake_root)
    assert s3.exists(join(remote.lake_root, "_validation", "runs", "user_orders", "v1", f"{FIRST}_{LAST}.json"))
    assert s3.exists(ValidationPaths.from_config(remote).data_docs_index)
    assert s3.list(join(remote.lake_root, "_leases", "features", "user_stats")) == []  # released

    built = {}
    for name, conf in (("local", local), ("s3", remote)):
        output = str(tmp_path / "ts") if name == "local" else join(remote.lake_root, "training_sets", "t")
        FeatureStore(repo="feature_specs", conf=conf, spark=spark).build_training_set(LABELS, output, REFS)
        built[name] = read_set(spark, output)
    pd.testing.assert_frame_equal(built["local"], built["s3"])
    assert built["s3"]["orders_7d"].notna().any() and len(built["s3"]) == len(LABELS)
    assert s3.exists(join(remote.lake_root, "training_sets", "t.metadata.json"))

    store = FeatureStore(repo="feature_specs", conf=remote, spark=spark)
    assert store.materialize("user_stats", full=True).entities > 0
    from featurelake.online.consistency import check_consistency

    report = check_consistency(store.spark, remote, store.registry, "user_stats", sample=1000)
    assert report.consistent and report.checked > 0, report.mismatches[:3]
    assert_secret_written_nowhere(remote)


def _objects(location: str) -> list[str]:
    storage = storage_for(location)
    found = []
    for name in storage.list(location):
        child = join(location, name)
        found += _objects(child) if storage.list(child) else [child]
    return found


def _content(location: str) -> bytes:
    try:
        return storage_for(location).read(location)
    except StorageNotFoundError:  # an empty "folder/" marker object s3a writes: nothing in it
        return b""


def assert_secret_written_nowhere(conf: FeaturelakeConfig) -> None:
    """Every object in the S3 lake (registry, verdicts, statistics, Data Docs, metadata,
    Delta tables) and every file of the local Great Expectations mirror: no S3 secret."""
    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    objects = _objects(conf.lake_root)
    assert len(objects) > 50 and any(o.endswith(".metadata.json") for o in objects)
    leaked = [o for o in objects if secret in _content(o)]
    leaked += [str(p) for p in Path(conf.state_dir).rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert leaked == []


def test_two_overlapping_backfills_as_processes_both_land_and_equal_a_serial_run(backfilled, spark) -> None:  # type: ignore[no-untyped-def]
    """Two drivers writing one table on S3: the lease serialises them; no commit is lost."""
    from delta.tables import DeltaTable

    from featurelake.offline.tables import table_path

    _, remote = backfilled
    path = table_path(remote.lake_root, load_registry(remote).view("user_stats"))
    before = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
    expected = table(spark, remote, "user_stats")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [str(BIN / "featurelake"), "backfill", "user_stats", "--conf", str(remote.source_file)]
    options = {"env": env, "text": True, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    runs = [
        subprocess.Popen([*command, "--start", str(s), "--end", str(LAST)], **options)
        for s in (FIRST, date(2025, 1, 5))
    ]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    assert [rc for rc, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    history = DeltaTable.forPath(spark, path).history().where(f"version > {before}").collect()
    assert sorted(c["operation"] for c in history) == ["WRITE", "WRITE"]  # both commits are there
    pd.testing.assert_frame_equal(table(spark, remote, "user_stats"), expected)
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]  # given through the environment only: never printed
    assert all(secret not in out + err for _, out, err in results)


def test_training_set_on_a_standalone_cluster_with_s3_equals_local_mode(
    backfilled, spark, spark_cluster, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """spark-submit --master spark://... (two executor JVMs) reading and writing the S3 lake."""
    from featurelake.spark.session import spark_submit_command

    local, remote = backfilled
    expected = str(tmp_path / "expected")
    FeatureStore(repo="feature_specs", conf=local, spark=spark).build_training_set(LABELS, expected, REFS)
    labels = join(remote.lake_root, "labels", "cluster.parquet")
    spark.createDataFrame(LABELS).write.mode("overwrite").parquet(labels)
    on_cluster = remote.model_copy(update={"spark": remote.spark.model_copy(update={
        "master": spark_cluster.master_url,
        "settings": {**remote.spark.settings, "spark.executor.cores": "1", "spark.cores.max": "2",
                     "spark.executor.memory": "1g"}})})  # fmt: skip
    output = join(remote.lake_root, "training_sets", "cluster")
    args = ["--labels", labels, "--features", ",".join(REFS), "--output", output, "--conf", str(remote.source_file)]
    command = spark_submit_command(on_cluster, Path("jobs") / "build_training_set.py", args)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr + " ".join(command)
    pd.testing.assert_frame_equal(read_set(spark, output), read_set(spark, expected))
    apps = spark_cluster.state()["completedapps"]
    assert apps and apps[-1]["cores"] == 2  # it ran on the cluster's executors, not in local mode


def test_a_view_dag_runs_on_the_cluster_against_the_s3_lake(backfilled, spark, spark_cluster, repo_root: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """dag.test() of the aggregated view: compute (spark-submit on the standalone cluster, two
    executor JVMs: compute, gate, publish to S3), the recorded verdict read back from S3,
    materialize (spark-submit; from the latest rows in S3, no Spark job), freshness. The day it replaced equals a
    local-mode backfill on the local lake, row for row; Redis equals the S3 table."""
    import json

    from airflow.utils.db import initdb
    from airflow.utils.state import DagRunState

    from featurelake.online.consistency import check_consistency
    from featurelake.orchestration.dags import DagSettings, build_dags
    from featurelake.validation.records import require_published

    local, remote = backfilled
    view, day = "user_orders", date(2025, 1, 11)  # the interval after the backfilled days
    initdb()
    monkeypatch.setenv("FEATURELAKE_CONF", str(remote.source_file))
    monkeypatch.setenv("FEATURELAKE_SPARK_MASTER", spark_cluster.master_url)
    monkeypatch.setenv("FEATURELAKE_DAG_RETRIES", "0")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": spark_cluster.master_url})
    )
    dags, errors = build_dags(DagSettings.from_env(repo_root / "dags"))
    assert errors == []
    finished = len(spark_cluster.state()["completedapps"])
    run = dags[f"featurelake__{view}"].test(logical_date=datetime(2025, 1, 12, tzinfo=UTC))
    assert run.state == DagRunState.SUCCESS, {ti.task_id: ti.state for ti in run.get_task_instances()}
    apps = spark_cluster.state()["completedapps"]
    # compute ran on its executors; materialize (the view's first) read the latest rows the
    # publish wrote to S3 with Arrow, without Spark: Redis equals the table (checked below).
    assert len(apps) == finished + 1 and apps[-1]["cores"] >= 2
    record = require_published(remote.lake_root, view, 1, day, day)  # read back from S3
    assert record.rows > 0 and record.delta_version is not None

    backfill_view(spark, load_registry(local), view, local.lake_root, day, day,
                  validation=ValidationPaths.from_config(local), lease=local.lease)  # fmt: skip
    on_day = [(lambda t: t[t["date"].astype(str) == str(day)])(table(spark, c, view)) for c in (local, remote)]
    assert len(on_day[0]) > 0
    pd.testing.assert_frame_equal(on_day[0].reset_index(drop=True), on_day[1].reset_index(drop=True))
    report = check_consistency(spark, remote, load_registry(remote), view, sample=None)
    assert report.consistent and report.checked > 0, report.mismatches[:3]


def test_a_similarity_index_on_s3_is_built_downloaded_checked_and_queried(backfilled, spark, redis_client) -> None:  # type: ignore[no-untyped-def]
    """materialize builds the index into the S3 lake; a reader downloads it once, checks its
    checksums, and answers from Python and from Spark executors (addFile from s3a)."""
    from featurelake.similarity import IndexFilesError
    from featurelake.similarity.files import ENTITIES_FILE, index_root

    _, remote = backfilled
    registry = load_registry(remote)
    backfill_view(spark, registry, "user_embedding", remote.lake_root, FIRST, LAST, lease=remote.lease)
    store = FeatureStore(repo="feature_specs", conf=remote, spark=spark)
    (built,) = store.materialize("user_embedding", full=True).indexes
    root = index_root(remote.lake_root, "user_embedding", 1, "behaviour_embedding")
    assert storage_for(root).exists(join(root, built.index_id, "manifest.json")) and built.entities > 0
    user = store.indexes.get("user_embedding", 1, "behaviour_embedding").entities(np.arange(1))[0]
    found = store.find_similar("user_embedding:behaviour_embedding", entity=user, k=3)
    assert found.index_id == built.index_id and len(found.neighbours) == 3
    cached = Path(remote.state_dir) / "index-cache" / built.index_id
    assert (cached / ENTITIES_FILE).is_file()
    batch = store.find_similar_batch(spark.createDataFrame([user]), "user_embedding:behaviour_embedding", 3).toPandas()
    assert batch.neighbour_user_id.tolist() == [n.entity["user_id"] for n in found.neighbours]

    storage_for(root).write(join(root, built.index_id, ENTITIES_FILE), b"tampered")
    shutil.rmtree(cached)
    fresh = FeatureStore(repo="feature_specs", conf=remote, spark=spark)
    with pytest.raises(IndexFilesError, match="does not match its checksum"):
        fresh.find_similar("user_embedding:behaviour_embedding", entity=user, k=3)
    assert not cached.exists()
