"""Redis online store on a real redis-server: newer-wins writes, TTL, materialization, reads."""

from __future__ import annotations

import random
import threading
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
import redis

from featurelake.compute.backfill import backfill_view
from featurelake.config import load_config
from featurelake.offline.tables import table_path
from featurelake.online.codec import ViewCodec, parse_header
from featurelake.online.keys import watermark_key
from featurelake.online.materialize import MaterializeFailedError, materialize_view, redis_settings
from featurelake.online.newer_wins import NEWER_WINS, NEWER_WINS_NEW_KEYS_FIRST
from featurelake.online.writer import WriteSpec, partition_writer
from featurelake.registry import apply_specs, load_registry
from featurelake.store import FeatureStore

CODEC = ViewCodec(("score", "vec"), ("double", "embedding"))


def _batches(rows: list[tuple[int, int, int, float]], size: int = 37) -> list[pa.RecordBatch]:
    batches = []
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        batches.append(pa.RecordBatch.from_pydict({
            "user_id": [r[0] for r in chunk], "_event_us": [r[1] for r in chunk], "_created_us": [r[2] for r in chunk],
            "score": [r[3] for r in chunk], "vec": [[r[3]] * 4 for r in chunk],
        }))  # fmt: skip
    return batches


def _write(conf, rows, ttl_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    spec = WriteSpec("t:v:v1:", ("user_id",), CODEC, ttl_ms)
    list(partition_writer(redis_settings(conf), spec)(iter(_batches(rows))))


def test_newer_value_wins_whatever_the_order_duplicates_and_concurrency(test_conf, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    rows = [
        (u, rng.randrange(1, 10) * 1_000_000, rng.randrange(1, 3), float(i)) for i in range(3000) for u in [i % 300]
    ]
    newest = {}
    for row in rows:
        if row[0] not in newest or (row[1], row[2]) >= newest[row[0]][1:3]:
            newest[row[0]] = row
    shuffled = rows[:]
    rng.shuffle(shuffled)
    orders = [list(reversed(sorted(rows, key=lambda r: (r[1], r[2])))), shuffled, rows + rows]
    threads = [threading.Thread(target=_write, args=(test_conf, order)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for user, (_, event_us, created_us, _) in newest.items():
        value = redis_client.get(f"t:v:v1:{user}")
        assert value is not None and parse_header(value) == (event_us, created_us)
        score = CODEC.decode(value)[0]
        assert (event_us, created_us) == next((r[1], r[2]) for r in rows if r[0] == user and r[3] == score)
    assert len(redis_client.keys("t:v:v1:*")) == len(newest) == 300


def test_ttl_is_set_and_refreshed_on_every_write(test_conf, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    _write(test_conf, [(1, 5_000_000, 1, 1.0)], ttl_ms=50_000)
    assert 40_000 < redis_client.pttl("t:v:v1:1") <= 50_000
    redis_client.pexpire("t:v:v1:1", 1_000)
    _write(test_conf, [(1, 5_000_000, 1, 1.0)], ttl_ms=50_000)  # the same row again: rewritten, TTL refreshed
    assert redis_client.pttl("t:v:v1:1") > 40_000
    _write(test_conf, [(1, 4_000_000, 1, 9.0)], ttl_ms=50_000)  # older: refused
    assert CODEC.decode(redis_client.get("t:v:v1:1"))[0] == 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize("script", [NEWER_WINS, NEWER_WINS_NEW_KEYS_FIRST], ids=["check_first", "new_keys_first"])
def test_both_newer_wins_scripts_decide_alike(script: str, redis_client: redis.Redis) -> None:
    run = redis_client.register_script(script)
    old, same, newer = (b"%016x%016x" % (t, 1) + b"\x91\xcb" + bytes(8) for t in (5, 6, 7))
    redis_client.set("k:older", same, px=1_000)
    redis_client.set("k:equal", same, px=1_000)
    redis_client.set("k:newer", same, px=1_000)
    keys = ["k:missing", "k:older", "k:equal", "k:newer"]
    assert run(keys=keys, args=[60_000, newer, old, same, newer]) == [3, 3]  # [written, existed]
    assert [redis_client.get(k) for k in keys] == [newer, same, same, newer]
    ttls = [redis_client.pttl(k) for k in keys]
    assert ttls[0] > 50_000 and ttls[1] <= 1_000 and ttls[2] > 50_000 and ttls[3] > 50_000  # refused: TTL untouched
    assert run(keys=["k:forever"], args=[0, old]) == [1, 0] and redis_client.pttl("k:forever") == -1


def test_the_writer_reads_stored_headers_only_while_keys_exist(test_conf, redis_client: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    rows = [(u, 2_000_000, 1, float(u)) for u in range(20_000)]

    def getranges() -> int:
        return int(redis_client.info("commandstats").get("cmdstat_getrange", {}).get("calls", 0))

    redis_client.config_resetstat()
    spec = WriteSpec("t:v:v1:", ("user_id",), CODEC, 60_000)
    list(partition_writer(redis_settings(test_conf), spec)(iter(_batches(rows, size=5_000))))
    assert redis_client.dbsize() == 20_000
    assert getranges() == 4_000  # the first round trip (8 x 500 keys) checked; then all were new: SET NX only
    list(partition_writer(redis_settings(test_conf), spec)(iter(_batches(rows, size=5_000))))
    assert getranges() == 24_000  # all exist: read and compare every one


@pytest.fixture(scope="module")
def online_lake(tmp_path_factory, make_test_conf, redis_server, repo_root, spark):  # type: ignore[no-untyped-def]
    from featurelake.demo_data import DatasetSize, generate

    base = tmp_path_factory.mktemp("online")
    conf = load_config(make_test_conf(base, redis_server.url, base / "lake"), env={})
    generate(conf.lake_root, DatasetSize(users=150, products=30, days=10))
    apply_specs(repo_root / "feature_specs", conf)
    registry = load_registry(conf)
    for view in ("user_stats", "user_embedding"):
        backfill_view(spark, registry, view, conf.lake_root, date(2025, 1, 1), date(2025, 1, 6))
    return conf, registry


def _newest_offline(spark, conf, registry, view: str):  # type: ignore[no-untyped-def]
    frame = spark.read.format("delta").load(table_path(conf.lake_root, registry.view(view))).toPandas()
    frame = frame.sort_values(["event_timestamp", "created_timestamp"]).groupby("user_id").tail(1)
    return frame.set_index("user_id")


def _assert_online_equals_offline(store: FeatureStore, spark, conf, registry) -> int:  # type: ignore[no-untyped-def]
    stats = _newest_offline(spark, conf, registry, "user_stats")
    vectors = _newest_offline(spark, conf, registry, "user_embedding")
    users = sorted(set(stats.index) | set(vectors.index))
    got = store.get_online_features(
        ["user_stats:spend_30d", "user_stats:account_age_days", "user_embedding:behaviour_embedding"],
        [{"user_id": int(u)} for u in users],
    ).to_dict()
    assert got["user_id"] == [int(u) for u in users]
    for i, user in enumerate(users):
        if user in stats.index:
            want = stats.loc[user, "spend_30d"]
            assert (got["spend_30d"][i] is None and np.isnan(want)) or got["spend_30d"][i] == pytest.approx(want)
            assert got["account_age_days"][i] == stats.loc[user, "account_age_days"]
        if user in vectors.index:
            vector = got["behaviour_embedding"][i]
            assert vector.dtype == np.float32 and np.array_equal(vector, vectors.loc[user, "behaviour_embedding"])
    return len(users)


def test_materialize_full_then_incremental_matches_the_newest_delta_rows(spark, online_lake, redis_client) -> None:  # type: ignore[no-untyped-def]
    conf, registry = online_lake
    store = FeatureStore(conf=conf, spark=spark)
    first = [materialize_view(spark, conf, registry, v) for v in ("user_stats", "user_embedding")]
    assert all(r.full and r.entities > 0 for r in first)
    assert [r.source for r in first] == ["latest rows", "latest rows"]  # refreshed by the backfill's publish
    assert _assert_online_equals_offline(store, spark, conf, registry) == max(r.entities for r in first)

    nothing = materialize_view(spark, conf, registry, "user_stats")
    assert nothing.days == [] and nothing.entities == 0  # no commit since the watermark

    backfill_view(spark, registry, "user_stats", conf.lake_root, date(2025, 1, 7), date(2025, 1, 8))
    later = materialize_view(spark, conf, registry, "user_stats")
    assert not later.full and later.days == [(date(2025, 1, 7), date(2025, 1, 8))]
    _assert_online_equals_offline(store, spark, conf, registry)

    missing = store.get_online_features(["user_stats:spend_30d", "user_orders:orders_7d"], [{"user_id": -1}]).to_dict()
    assert missing == {"user_id": [-1], "spend_30d": [None], "orders_7d": [0]}  # defaults, as in training sets


def test_a_failed_run_leaves_the_watermark_and_a_rerun_repairs(spark, online_lake, redis_client) -> None:  # type: ignore[no-untyped-def]
    conf, registry = online_lake
    view = registry.view("user_embedding")
    mark = watermark_key(registry.project, "user_embedding", view.version)
    materialize_view(spark, conf, registry, "user_embedding", full=True)
    before = redis_client.hgetall(mark)
    redis_client.flushdb()
    redis_client.hset(mark, mapping=before)  # values lost, watermark kept: only --full or new commits bring them back
    backfill_view(spark, registry, "user_embedding", conf.lake_root, date(2025, 1, 7), date(2025, 1, 7))
    used = int(redis_client.info("memory")["used_memory"])
    redis_client.config_set("maxmemory", str(used + 20_000))  # room for a few keys only: the run fails midway
    try:
        with pytest.raises(MaterializeFailedError, match=r"OutOfMemoryError.*maxmemory.*watermark did not move"):
            materialize_view(spark, conf, registry, "user_embedding")
        assert redis_client.hgetall(mark) == before
    finally:
        redis_client.config_set("maxmemory", "0")
    rerun = materialize_view(spark, conf, registry, "user_embedding", full=True)
    assert rerun.entities > 0
    vectors = _newest_offline(spark, conf, registry, "user_embedding")
    got = (
        FeatureStore(conf=conf, spark=spark)
        .get_online_features(["user_embedding:behaviour_embedding"], [{"user_id": int(u)} for u in vectors.index])
        .to_dict()["behaviour_embedding"]
    )
    assert all(np.array_equal(g, w) for g, w in zip(got, vectors["behaviour_embedding"], strict=True))


def test_after_redis_restarts_empty_consistency_reports_it_and_full_repairs(  # type: ignore[no-untyped-def]
    spark, online_lake, tmp_path, make_test_conf
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from featurelake.online.consistency import check_consistency
    from featurelake.online.redis_server import free_port, start_redis_server

    _, registry = online_lake
    lake = online_lake[0].lake_root
    port = free_port()
    server = start_redis_server(tmp_path / "r1", port=port)
    conf_path = make_test_conf(tmp_path, f"redis://127.0.0.1:{port}/0", Path(lake))
    conf = load_config(conf_path, env={})
    try:
        materialize_view(spark, conf, registry, "user_stats", full=True)
        assert check_consistency(spark, conf, registry, "user_stats", sample=None).consistent
        server.stop()
        server = start_redis_server(tmp_path / "r2", port=port)  # the same address, nothing in it

        report = check_consistency(spark, conf, registry, "user_stats", sample=50)
        assert report.checked == 50 and len(report.mismatches) == 50
        assert all(m.what == "missing in Redis" for m in report.mismatches)
        command = [str(Path(sys.executable).parent / "featurelake"), "consistency", "user_stats", "--sample", "10"]
        cli = subprocess.run([*command, "--conf", str(conf_path)], capture_output=True, text=True, check=False)
        assert cli.returncode == 1 and "10 differ" in cli.stderr and "materialize user_stats --full" in cli.stderr

        repaired = materialize_view(spark, conf, registry, "user_stats", full=True)
        assert repaired.written == repaired.entities > 0
        assert check_consistency(spark, conf, registry, "user_stats", sample=None).consistent
    finally:
        server.stop()


def test_wrong_password_is_a_clear_error_and_the_watermark_is_untouched(
    spark, online_lake, tmp_path, make_test_conf
) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from featurelake.errors import RedisAuthError
    from featurelake.online.redis_server import free_port, start_redis_server

    _, registry = online_lake
    port = free_port()
    server = start_redis_server(tmp_path / "auth", port=port, password="right-secret")
    conf_path = make_test_conf(tmp_path, f"redis://127.0.0.1:{port}/0", Path(online_lake[0].lake_root))
    try:
        conf = load_config(conf_path, env={"FEATURELAKE_REDIS_PASSWORD": "wrong-secret"})
        with pytest.raises(RedisAuthError) as failure:
            materialize_view(spark, conf, registry, "user_stats")
        assert "wrong-secret" not in str(failure.value)
        client = redis.Redis(host="127.0.0.1", port=port, password="right-secret")
        assert client.dbsize() == 0
        client.close()
    finally:
        server.stop()


def test_a_commit_not_made_by_featurelake_makes_the_next_run_read_everything(spark, online_lake, redis_client) -> None:  # type: ignore[no-untyped-def]
    conf, registry = online_lake
    materialize_view(spark, conf, registry, "user_stats", full=True)
    table = table_path(conf.lake_root, registry.view("user_stats"))
    rows = spark.read.format("delta").load(table)
    rows.limit(1).write.format("delta").mode("append").save(table)  # a manual write (an exact copy): no days recorded
    result = materialize_view(spark, conf, registry, "user_stats")
    assert result.full and result.days is None and result.entities > 0


def test_full_keeps_values_newer_than_delta_and_reset_makes_redis_equal_delta_again(
    spark, online_lake, redis_client
) -> None:  # type: ignore[no-untyped-def]
    from featurelake.online.consistency import check_consistency
    from featurelake.online.keys import view_prefix

    conf, registry = online_lake
    view = registry.view("user_stats")
    materialize_view(spark, conf, registry, "user_stats", full=True)
    prefix = view_prefix(registry.project, "user_stats", view.version)
    # A value from data that no longer exists: newer than anything in Delta, and an entity Delta lacks.
    newer = redis_client.get(f"{prefix}1")
    assert newer is not None
    stale_header = b"%016x%016x" % (2**62, 2**62)
    redis_client.set(f"{prefix}1", stale_header + newer[32:])
    redis_client.set(f"{prefix}999999", stale_header + newer[32:])

    materialize_view(spark, conf, registry, "user_stats", full=True)
    assert redis_client.get(f"{prefix}1").startswith(stale_header)  # newer-wins: a rebuild keeps it
    assert not check_consistency(spark, conf, registry, "user_stats", sample=None).consistent

    result = materialize_view(spark, conf, registry, "user_stats", reset=True)
    assert result.full and redis_client.get(f"{prefix}999999") is None
    assert check_consistency(spark, conf, registry, "user_stats", sample=None).consistent


def test_consistency_samples_a_hash_bucket_of_entities_and_still_finds_every_difference(
    spark, online_lake, redis_client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from featurelake.online import consistency
    from featurelake.online.keys import view_prefix

    conf, registry = online_lake
    monkeypatch.setattr(consistency, "SAMPLE_BUCKETS", 2)  # 150 users: about 75 in the sampled bucket
    materialize_view(spark, conf, registry, "user_stats", reset=True)
    assert consistency.check_consistency(spark, conf, registry, "user_stats", sample=20).checked == 20

    prefix = view_prefix(registry.project, "user_stats", registry.view("user_stats").version)
    redis_client.delete(*redis_client.keys(f"{prefix}*"))
    report = consistency.check_consistency(spark, conf, registry, "user_stats", sample=20)
    assert report.checked == 20 and len(report.mismatches) == 20
    users = spark.createDataFrame([(int(m.entity.removeprefix(prefix)),) for m in report.mismatches], "user_id long")
    bucket = F.pmod(F.xxhash64("user_id", F.lit(consistency.SAMPLE_SEED)), F.lit(2))
    assert {r[0] for r in users.select(bucket).collect()} == {0}, "the sample is drawn from the hashed bucket"
    materialize_view(spark, conf, registry, "user_stats", reset=True)
