"""The validation gate: bad batches never reach the published table, good ones always do."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from featurelake.compute.backfill import compute_days
from featurelake.compute.publish import publish_rows
from featurelake.config import FeaturelakeConfig, load_config
from featurelake.offline.tables import table_path
from featurelake.registry import apply_specs, load_registry
from featurelake.registry.model import Registry
from featurelake.validation.context import ValidationPaths
from featurelake.validation.errors import ValidationFailedError
from featurelake.validation.stats import FeatureStats, stats_dir

START = date(2025, 1, 1)
DAYS = (date(2025, 1, 8), date(2025, 1, 9))


@pytest.fixture(scope="module")
def lake(tmp_path_factory, make_test_conf, redis_server, repo_root):  # type: ignore[no-untyped-def]
    """Its own small lake: every shipped view published for DAYS, nothing else."""
    from featurelake.demo_data import DatasetSize, generate

    base = tmp_path_factory.mktemp("gate")
    conf = load_config(make_test_conf(base, redis_server.url, base / "lake"), env={})
    generate(conf.lake_root, DatasetSize(users=120, products=30, days=12))
    apply_specs(repo_root / "feature_specs", conf)
    return conf, load_registry(conf)


_COMPUTED: dict[tuple[str, str, tuple[date, date]], object] = {}


def _rows(spark, registry: Registry, conf: FeaturelakeConfig, view: str, days: tuple[date, date]):  # type: ignore[no-untyped-def]
    """The view's computed rows, computed once per module and kept cached; callers get a new
    DataFrame on top (publish_rows unpersists what it is given, not this cache)."""
    key = (conf.lake_root, view, days)
    if key not in _COMPUTED:
        computed = compute_days(spark, registry, view, conf.lake_root, *days)
        rows = computed.rows.cache()
        rows.count()
        for frame in computed.cached:
            frame.unpersist()
        _COMPUTED[key] = rows
    return _COMPUTED[key].select("*")  # type: ignore[attr-defined]


def _version(spark, conf: FeaturelakeConfig, registry: Registry, view: str) -> int:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, table_path(conf.lake_root, registry.view(view))).history(1).collect()[0][0])


def _content(spark, conf: FeaturelakeConfig, registry: Registry, view: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = spark.read.format("delta").load(table_path(conf.lake_root, registry.view(view))).toPandas()
    return frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)


@pytest.fixture(scope="module")
def published(spark, lake):  # type: ignore[no-untyped-def]
    """Every shipped view published for DAYS through the gate: {view: (rows computed, Published)}."""
    conf, registry = lake
    done = {}
    for view in registry.views:
        rows = _rows(spark, registry, conf, view, DAYS)
        done[view] = (rows.count(), publish_rows(spark, registry, view, rows, *DAYS, ValidationPaths.from_config(conf)))
    return done


def test_good_batches_of_every_shipped_view_are_published(published) -> None:  # type: ignore[no-untyped-def]
    assert len(published) == 5
    for rows, result in published.values():
        assert result.validation.passed, result.validation.summary()
        assert result.rows_written == rows > 0
        assert result.validation.rows == rows  # Great Expectations' count of the batch


def _future(frame):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    moved = F.col("user_id") % 5 == 0
    ts = F.when(moved, F.lit(datetime(tomorrow.year, tomorrow.month, tomorrow.day, 12, tzinfo=UTC)))
    return frame.withColumn("event_timestamp", ts.otherwise(F.col("event_timestamp"))).withColumn(
        "date", F.to_date("event_timestamp")
    )


def _mutations() -> dict[str, tuple[str, str, Callable]]:  # type: ignore[type-arg]
    from pyspark.sql import functions as F

    every_7th = F.col("user_id") % 7 == 0
    return {
        # case: (view, the check that must fail, how the batch is broken)
        "null keys": (
            "user_orders",
            "key_not_null:user_id",
            lambda f: f.withColumn("user_id", F.when(every_7th, None).otherwise(F.col("user_id"))),
        ),
        "duplicate (key, ts)": (
            "user_stats",
            "unique_row",
            lambda f: f.unionByName(f.limit(3).withColumn("spend_30d", F.lit(-1.0))),
        ),
        "future timestamps": ("user_stats", "not_future", _future),
        "out-of-range values": (
            "user_orders",
            "between:spend_30d",
            lambda f: f.withColumn("spend_30d", F.when(every_7th, -5.0).otherwise(F.col("spend_30d"))),
        ),
        "wrong embedding dim": (
            "user_embedding",
            "embedding_dim:behaviour_embedding",
            lambda f: f.withColumn("behaviour_embedding", F.slice("behaviour_embedding", 1, 8)),
        ),
        "renamed column": ("user_orders", "columns", lambda f: f.withColumnRenamed("spend_30d", "spend_30")),
        "row outside its partition": (
            "user_sessions",
            "inside_partition",
            lambda f: f.withColumn("date", F.date_add("date", 1)).where(F.col("date") <= DAYS[1]),
        ),
        "null in a not_null feature": (
            "user_embedding",
            "not_null:behaviour_embedding",
            lambda f: f.withColumn(
                "behaviour_embedding", F.when(every_7th, None).otherwise(F.col("behaviour_embedding"))
            ),
        ),
    }


CASES = ["null keys", "duplicate (key, ts)", "future timestamps", "out-of-range values", "wrong embedding dim",
         "renamed column", "row outside its partition", "null in a not_null feature"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_batches_are_blocked_and_nothing_is_published(spark, lake, case: str) -> None:  # type: ignore[no-untyped-def]
    conf, registry = lake
    view, check, mutate = _mutations()[case]
    days = (DAYS[0], max(DAYS[1], datetime.now(UTC).date() + timedelta(days=1))) if "future" in case else DAYS
    publish_rows(
        spark, registry, view, _rows(spark, registry, conf, view, DAYS), *DAYS, ValidationPaths.from_config(conf)
    )
    before_version, before = _version(spark, conf, registry, view), _content(spark, conf, registry, view)

    bad = mutate(_rows(spark, registry, conf, view, DAYS))
    with pytest.raises(ValidationFailedError) as failure:
        publish_rows(spark, registry, view, bad, *days, ValidationPaths.from_config(conf))

    outcome = failure.value.fields["outcome"]
    assert check in {r.check.name for r in outcome.failures}, outcome.summary()
    assert _version(spark, conf, registry, view) == before_version
    pd.testing.assert_frame_equal(_content(spark, conf, registry, view), before)
    message = str(failure.value)
    assert view in message and "nothing was published" in message and "Data Docs:" in message
    if check == "unique_row":  # 3 rows copied: 3 duplicated keys, each shown with its copies and day
        (result,) = [r for r in outcome.failures if r.check.name == check]
        assert result.unexpected_count == 3 and len(result.samples) == 3, result.line()
        assert all("'copies': 2" in s for s in result.samples) and result.days, result.line()


def test_a_failed_check_reports_day_column_count_and_samples(spark, lake) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    conf, registry = lake
    rows = _rows(spark, registry, conf, "user_orders", DAYS)
    broken = F.col("date") == DAYS[1]
    bad = rows.withColumn("spend_30d", F.when(broken, F.lit(-7.5)).otherwise(F.col("spend_30d")))
    with pytest.raises(ValidationFailedError) as failure:
        publish_rows(spark, registry, "user_orders", bad, *DAYS, ValidationPaths.from_config(conf))
    outcome = failure.value.fields["outcome"]
    (result,) = [r for r in outcome.failures if r.check.name == "between:spend_30d"]
    assert result.unexpected_count == rows.where(broken).count()
    assert result.days == (str(DAYS[1]),)
    assert result.samples == ("-7.5",)
    assert "column spend_30d" in result.line() and f"day(s) {DAYS[1]}" in result.line()
    # A passing run lists no values (no scan for them); a failed blocking column check runs the
    # checkpoint again with them, under the same run id: one page for the run, with the values in it.
    page = Path(outcome.data_docs)
    assert [p.name for p in page.parent.glob("*.html")] == [page.name]
    assert "-7.5" in page.read_text()


def test_a_warn_expectation_reports_but_does_not_block(spark, lake) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    conf, registry = lake
    rows = _rows(spark, registry, conf, "user_orders", DAYS)
    nulls = rows.withColumn("last_channel", F.when(F.col("user_id") % 3 == 0, None).otherwise(F.col("last_channel")))
    published = publish_rows(spark, registry, "user_orders", nulls, *DAYS, ValidationPaths.from_config(conf))
    assert published.validation.passed
    (warning,) = [r for r in published.validation.warnings if r.check.name == "not_null:last_channel"]
    # A warning needs no second checkpoint run: its values and days are listed for the summary.
    assert warning.samples == ("None",) and warning.days and warning.unexpected_count, warning.line()
    table = spark.read.format("delta").load(table_path(conf.lake_root, registry.view("user_orders")))
    assert table.where(F.col("last_channel").isNull()).count() == nulls.where(F.col("last_channel").isNull()).count()


def test_stats_are_stored_per_day_and_the_next_run_checks_drift(spark, lake) -> None:  # type: ignore[no-untyped-def]
    conf, registry = lake
    view = registry.view("user_stats")
    rows = _rows(spark, registry, conf, "user_stats", DAYS)
    publish_rows(spark, registry, "user_stats", rows, *DAYS, ValidationPaths.from_config(conf))
    expected = rows.toPandas()
    for day in DAYS:
        stats = FeatureStats.from_json((Path(stats_dir(conf.lake_root, view)) / f"{day}.json").read_text())
        frame = expected[expected["date"] == day]
        assert stats.rows == len(frame)
        for name in ("spend_30d", "account_age_days", "refund_rate_30d"):
            column = frame[name]
            got = stats.features[name]
            assert got.null_rate == pytest.approx(column.isna().mean())
            assert got.min == pytest.approx(column.min()) and got.max == pytest.approx(column.max())
            assert got.mean == pytest.approx(column.mean())
            assert got.stddev == pytest.approx(column.std(ddof=0))
            assert got.distinct is None  # not computed (nothing read it)

    next_day = (DAYS[1] + timedelta(days=1),) * 2
    outcome = publish_rows(spark, registry, "user_stats", _rows(spark, registry, conf, "user_stats", next_day),
                           *next_day, ValidationPaths.from_config(conf)).validation  # fmt: skip
    drift = {r.check.name: r for r in outcome.results if r.check.severity == "info"}
    assert "drift_mean:spend_30d" in drift and "drift_nulls:spend_30d" in drift
    assert f"on {DAYS[1]}" in drift["drift_mean:spend_30d"].check.description
    assert isinstance(json.loads(FeatureStats.to_json(outcome_stats(conf, view, next_day[0]))), dict)


def outcome_stats(conf: FeaturelakeConfig, view, day: date) -> FeatureStats:  # type: ignore[no-untyped-def]
    return FeatureStats.from_json((Path(stats_dir(conf.lake_root, view)) / f"{day}.json").read_text())


def test_data_docs_keep_every_run(lake) -> None:  # type: ignore[no-untyped-def]
    conf, _ = lake
    reports = Path(conf.resolved_reports_dir)
    pages = list((reports / "validations").rglob("*.html"))
    assert (reports / "index.html").is_file() and len(pages) >= 10
    assert "cdn.jsdelivr" not in (reports / "index.html").read_text()  # vendored: reports work offline


def test_row_checks_read_the_cached_offending_rows_and_each_still_finds_its_own(spark, lake) -> None:  # type: ignore[no-untyped-def]
    """The `rows` checks' queries (as Great Expectations runs them, on `tmp_view`) read the
    one cached offending-rows result, and each selects exactly the rows its own condition
    selects on the whole batch (the oracle: the condition alone)."""
    from pyspark.sql import functions as F

    from featurelake.validation.checks import GX_BATCH_VIEW, offending_rows_query, rows_query, view_checks
    from featurelake.validation.gate import _cache_shared_queries

    conf, registry = lake
    view = registry.view("user_embedding")
    moved = F.col("user_id") % 3 == 0
    bad = _future(_rows(spark, registry, conf, "user_embedding", DAYS))
    bad = bad.withColumn("date", F.when(moved, F.date_add("date", 1)).otherwise(F.col("date")))
    bad = bad.withColumn("behaviour_embedding", F.when(F.col("user_id") % 4 == 0, F.slice("behaviour_embedding", 1, 8))
                         .otherwise(F.col("behaviour_embedding"))).cache()  # fmt: skip
    checks = [c for c in view_checks(registry, view, *DAYS) if c.kind == "rows"]
    expected_checks = {"inside_partition", "inside_run", "not_future", "embedding_dim:behaviour_embedding"}
    assert {c.name for c in checks} == expected_checks
    cached: list = []
    offending = _cache_shared_queries(bad, checks, cached)
    assert offending == offending_rows_query(checks) and len(cached) == 1
    try:
        for check in checks:
            query = spark.sql(rows_query(check, offending).format(batch=GX_BATCH_VIEW))
            # Project <- Filter (this check) <- the cached offending rows, whose plan is their filter
            plan = query._jdf.queryExecution().withCachedData().toString().splitlines()
            assert "InMemoryRelation" in plan[2] and "Filter" in plan[3], "\n".join(plan[:4])
            assert "2025-01-09" in plan[3] and "size(behaviour_embedding" in plan[3], "\n".join(plan[:4])
            expected = bad.where(F.expr(str(check.condition))).count()
            assert expected > 0, check.name
            assert query.count() == expected, check.name
    finally:
        for frame in cached:
            frame.unpersist()
        bad.unpersist()


def test_the_uniqueness_groups_are_cached_once_for_both_of_its_queries(spark, lake) -> None:  # type: ignore[no-untyped-def]
    """An aggregated view's batch: the gate caches the uniqueness query itself; a batch whose
    query is already cached (a row view's backfill does that) is left alone."""
    from featurelake.validation.checks import GX_BATCH_VIEW, duplicates_query, view_checks
    from featurelake.validation.gate import _cache_shared_queries

    conf, registry = lake
    rows = _rows(spark, registry, conf, "user_orders", DAYS)
    (unique,) = [c for c in view_checks(registry, registry.view("user_orders"), *DAYS) if c.kind == "duplicates"]
    cached: list = []
    offending = _cache_shared_queries(rows, [unique], cached)
    try:
        assert offending is None and len(cached) == 1
        count_query = f"SELECT count(*) FROM ({duplicates_query(unique.kwargs['column_list'])})"
        plan = spark.sql(count_query.format(batch=GX_BATCH_VIEW))._jdf.queryExecution().withCachedData().toString()
        assert "InMemoryRelation" in plan.splitlines()[1] and "copies" in plan.splitlines()[1], plan
        again: list = []
        assert _cache_shared_queries(rows, [unique], again) is None and again == []
    finally:
        for frame in cached:
            frame.unpersist()
