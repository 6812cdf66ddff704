"""The generated Airflow DAGs, run for real with dag.test(): Spark through spark-submit,
Delta, Great Expectations, Redis, and alerts received by a local webhook."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.orchestration.dags import MONITOR_DAG_ID, DagSettings, build_dags

DAYS = 12
OFFLINE_VIEW = "product_popularity"
PROJECT = "flairflow"  # its own Redis keys: other tests' lakes share the server


@pytest.fixture()
def alert_webhook(webhook, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FEATURELAKE_ALERT_WEBHOOK_URL", webhook.url)
    return webhook


@pytest.fixture(scope="module")
def airflow_project(tmp_path_factory: pytest.TempPathFactory, redis_server, make_test_conf, repo_root: Path):  # type: ignore[no-untyped-def]
    """A lake with recent data (its last day is yesterday) and the shipped specs, one of
    them turned offline so both DAG shapes are covered; Airflow's DB initialised."""
    from airflow.utils.db import initdb

    from featurelake.demo_data import DatasetSize, generate
    from featurelake.registry import apply_specs

    base = tmp_path_factory.mktemp("airflow-project")
    specs = base / "feature_specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    spec = next(specs.rglob(f"{OFFLINE_VIEW}.yaml"))
    spec.write_text(spec.read_text().replace("online: true", "online: false"))
    conf_path = make_test_conf(base, redis_server.url.replace("/0", "/2"), base / "lake", project=PROJECT)
    config = load_config(conf_path, env={})
    start = datetime.now(UTC).date() - timedelta(days=DAYS)
    generate(config.lake_root, DatasetSize(users=60, products=20, days=DAYS, start=start))
    apply_specs(specs, config)
    initdb()
    return conf_path, config, start


@pytest.fixture()
def dag_env(airflow_project, monkeypatch: pytest.MonkeyPatch, repo_root: Path):  # type: ignore[no-untyped-def]
    conf_path, config, start = airflow_project
    monkeypatch.setenv("FEATURELAKE_CONF", str(conf_path))
    monkeypatch.setenv("FEATURELAKE_DAG_RETRIES", "0")
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    return DagSettings.from_env(repo_root / "dags"), config, start


def test_dagbag_has_one_dag_per_view_and_the_monitor(dag_env, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(repo_root / "dags"))
    assert bag.import_errors == {}
    views = {"product_popularity", "user_embedding", "user_orders", "user_sessions", "user_stats"}
    assert set(bag.dag_ids) == {f"featurelake__{v}" for v in views} | {MONITOR_DAG_ID}
    online = bag.dags["featurelake__user_stats"]
    assert [t.task_id for t in online.topological_sort()] == ["compute", "validation_gate", "materialize",
                                                               "check_freshness"]  # fmt: skip
    assert "team:risk" in online.tags and "Risk snapshots" in online.doc_md
    assert online.default_args["owner"] == "risk"
    offline = bag.dags[f"featurelake__{OFFLINE_VIEW}"]
    assert [t.task_id for t in offline.topological_sort()] == ["compute", "validation_gate", "check_freshness"]


def test_a_view_whose_dag_fails_to_build_is_an_import_error_and_the_others_load(
    dag_env, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    from featurelake.registry import apply_specs

    _, config, _ = dag_env
    specs = tmp_path / "specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    spec = next(specs.rglob("user_orders.yaml"))
    # Airflow refuses tags over 100 characters; the spec schema does not know that.
    spec.write_text(spec.read_text().replace("  tags: [", f"  tags: [{'x' * 101}, ", 1))
    lake = tmp_path / "lake"
    shutil.copytree(Path(config.lake_root) / "_registry", lake / "_registry")
    conf = load_config(Path(config.source_file), env={"FEATURELAKE_LAKE_ROOT": str(lake)})
    apply_specs(specs, conf, allow_destroy=True)
    monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", str(lake))
    bag = DagBag(dag_folder=str(repo_root / "dags"))
    errors = {Path(path).name: text for path, text in bag.import_errors.items()}
    assert list(errors) == ["featurelake_dag_errors.py"]
    assert "user_orders" in errors["featurelake_dag_errors.py"]
    assert "user_orders.yaml:" in errors["featurelake_dag_errors.py"]  # where to fix it
    assert "featurelake__user_orders" not in bag.dag_ids
    assert "featurelake__user_stats" in bag.dag_ids and MONITOR_DAG_ID in bag.dag_ids


def test_a_registry_of_200_views_gives_201_dags(dag_env, repo_root: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The shape at scale; its parse time is measured by benchmarks/bench_dag_parse.py."""
    from airflow.dag_processing.dagbag import DagBag

    from featurelake.registry import load_registry
    from featurelake.registry.store import RegistryStore

    _, config, _ = dag_env
    registry = load_registry(config)
    base = registry.views["user_orders"]
    views = {f"orders_{i:03d}": base.model_copy(update={"name": f"orders_{i:03d}"}) for i in range(200)}
    RegistryStore(str(tmp_path / "lake")).apply(registry.model_copy(update={"views": views}), None)
    monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", str(tmp_path / "lake"))
    bag = DagBag(dag_folder=str(repo_root / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {f"featurelake__{name}" for name in views} | {MONITOR_DAG_ID}
    monitor = bag.dags[MONITOR_DAG_ID].get_task("check_freshness")
    assert len(monitor.expand_input.value["op_kwargs"]) == 200


def _day_rows(spark, config: FeaturelakeConfig, day: date):  # type: ignore[no-untyped-def]
    from featurelake.offline.tables import table_path
    from featurelake.registry import load_registry

    view = load_registry(config).view("user_stats")
    rows = spark.read.format("delta").load(table_path(config.lake_root, view)).where(f"date = '{day}'")
    return rows.toPandas().sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)


def _online_values(config: FeaturelakeConfig) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(config.redis.url)
    keys = sorted(client.scan_iter(match=f"{PROJECT}:user_stats:v1:*".encode()))
    return dict(zip(keys, client.mget(keys), strict=True))


def test_view_dag_runs_for_real_and_a_rerun_of_the_interval_changes_nothing(dag_env, spark) -> None:  # type: ignore[no-untyped-def]
    from airflow.utils.state import DagRunState

    settings, config, start = dag_env
    dags, errors = build_dags(settings)
    assert errors == []
    last_day = start + timedelta(days=DAYS - 1)
    # dag.test() takes the time the run is made: the interval that just ended is last_day.
    run_after = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)
    client = redis.Redis.from_url(config.redis.url)
    for key in client.scan_iter(match=f"{PROJECT}:*".encode()):
        client.delete(key)

    first = dags["featurelake__user_stats"].test(logical_date=run_after)
    assert first.state == DagRunState.SUCCESS
    assert first.data_interval_start.date() == last_day
    rows = _day_rows(spark, config, last_day)
    values = _online_values(config)
    assert len(rows) > 20 and len(values) == rows.user_id.nunique()
    runs = Path(config.lake_root, "_validation", "runs", "user_stats", "v1")
    record = json.loads((runs / f"{last_day}_{last_day}.json").read_text())
    assert record["passed"] and record["published"]
    run_folder = f"user_stats_{last_day}_to_{last_day}_publish"
    docs = [p for p in Path(config.resolved_reports_dir, "validations").rglob("*.html") if run_folder in p.parts]
    assert docs, "Data Docs has a page for the interval's validation"

    second = dags["featurelake__user_stats"].test(logical_date=run_after)
    assert second.state == DagRunState.SUCCESS
    assert _day_rows(spark, config, last_day).equals(rows)
    assert _online_values(config) == values


def test_monitor_alerts_for_stale_views_only(dag_env, spark, alert_webhook) -> None:  # type: ignore[no-untyped-def]
    from airflow.utils.state import TaskInstanceState

    from featurelake.compute.backfill import backfill_view
    from featurelake.online.materialize import materialize_view
    from featurelake.registry import load_registry
    from featurelake.validation.context import ValidationPaths

    settings, config, start = dag_env
    registry = load_registry(config)
    paths = ValidationPaths.from_config(config)
    yesterday = start + timedelta(days=DAYS - 1)
    # Fresh: user_stats up to yesterday, online. Stale on purpose: the offline view's newest
    # published day is five days old (its SLA is 26h). Never computed: the other views.
    backfill_view(spark, registry, "user_stats", config.lake_root, yesterday, yesterday, validation=paths)
    materialize_view(spark, config, registry, "user_stats")
    five_days_old = yesterday - timedelta(days=5)
    backfill_view(spark, registry, OFFLINE_VIEW, config.lake_root, start, five_days_old, validation=paths)

    dags, _ = build_dags(settings)
    run = dags[MONITOR_DAG_ID].test()
    states = {ti.rendered_map_index: ti.state for ti in run.get_task_instances()}
    stale = {"product_popularity", "user_embedding", "user_orders", "user_sessions"}
    assert states == {**{v: TaskInstanceState.FAILED for v in stale}, "user_stats": TaskInstanceState.SUCCESS}
    alerted = {alert["details"]["view"] for alert in alert_webhook.received}
    assert alerted == stale
    offline = next(a for a in alert_webhook.received if a["details"]["view"] == OFFLINE_VIEW)
    assert "STALE" in offline["text"] and "(in delta)" in offline["text"]


def test_a_failed_task_alerts_through_the_failure_callback(dag_env, alert_webhook, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Here the webhook comes from the Airflow connection `featurelake_alerts`, not the env."""
    from airflow.utils.state import DagRunState

    monkeypatch.delenv("FEATURELAKE_ALERT_WEBHOOK_URL")
    connection = {"conn_type": "generic", "extra": {"webhook_url": alert_webhook.url}}
    monkeypatch.setenv("AIRFLOW_CONN_FEATURELAKE_ALERTS", json.dumps(connection))
    settings, _, start = dag_env
    broken = DagSettings(**{**settings.__dict__, "spark_submit": "/bin/false"})
    dags, _ = build_dags(broken)
    run = dags["featurelake__user_sessions"].test(logical_date=datetime(start.year, start.month, start.day, tzinfo=UTC))
    assert run.state == DagRunState.FAILED
    assert [(a["kind"], a["details"]["task_id"]) for a in alert_webhook.received] == [("task_failed", "compute")]
    assert alert_webhook.received[0]["details"]["dag_id"] == "featurelake__user_sessions"
