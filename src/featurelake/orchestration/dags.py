"""One Airflow DAG per feature view, plus the freshness monitor, from the applied registry.

Parse-time work is reading the conf file and the compiled registry JSON: no Spark, no
Great Expectations, no Redis. A view whose DAG cannot be built is left out of `build_dags`
and reported by `raise_build_errors` (dags/featurelake_dag_errors.py), so it shows as an
import error while every other view's DAG loads.

A view DAG, for its data interval [start, end):
  compute (spark-submit jobs/compute_features.py backfill VIEW --start --end: compute,
  validate with Great Expectations, publish only if valid) -> validation_gate (the recorded
  verdict and its Data Docs page) -> materialize (online views: spark-submit
  jobs/materialize.py, incremental) -> check_freshness (as of the interval's end).
Every task is keyed by the interval, so rerunning it gives the same result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.errors import FeaturelakeError
from featurelake.registry.model import Registry
from featurelake.registry.store import RegistryStore
from featurelake.specs.models import FeatureView

DAG_PREFIX = "featurelake__"
MONITOR_DAG_ID = f"{DAG_PREFIX}freshness_monitor"
PRESET_CRONS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
INTERVAL_START = "{{ featurelake_interval(dag, dag_run)[0] }}"
INTERVAL_LAST_DAY = "{{ featurelake_interval(dag, dag_run)[1] }}"
INTERVAL_END = "{{ featurelake_interval(dag, dag_run)[2] }}"


def last_complete_interval(cron: str, when: datetime) -> tuple[datetime, datetime]:
    """The cron interval [start, end) with the greatest end <= `when` (UTC)."""
    from croniter import croniter

    # croniter steps back strictly before its start: one second after `when` keeps a
    # boundary that equals `when`.
    end = croniter(cron, when.astimezone(UTC) + timedelta(seconds=1)).get_prev(datetime)
    return croniter(cron, end).get_prev(datetime), end


def interval_days(dag: Any, dag_run: Any) -> tuple[str, str, str]:
    """(first day, last day, end time) of a run's data interval, for templates.

    The interval is half-open, so its last day is the one just before its end. A run
    triggered without a logical date (REST/UI) has no data interval: it gets the one the
    timetable infers for its run_after time (the last complete interval)."""
    start, end = getattr(dag_run, "data_interval_start", None), getattr(dag_run, "data_interval_end", None)
    if start is None or end is None:
        start, end = last_complete_interval(dag.timetable.expression, dag_run.run_after)
    last = end - timedelta(microseconds=1)
    return start.date().isoformat(), last.date().isoformat(), end.isoformat()


class DagBuildError(FeaturelakeError):
    template = "feature view {view} ({origin}): its DAG could not be built: {problem}"


class DagBuildErrors(FeaturelakeError):
    template = "{count} feature view DAG(s) could not be built (the other views' DAGs are loaded):\n{lines}"


@dataclass(frozen=True)
class DagSettings:
    """Where the DAGs find the conf, the jobs and spark-submit; how they retry."""

    conf_path: Path
    jobs_dir: Path
    spark_submit: str
    spark_conn_id: str = "spark_default"
    retries: int = 2
    retry_delay: timedelta = timedelta(minutes=5)
    start_date: datetime = datetime(2024, 1, 1, tzinfo=UTC)

    @classmethod
    def from_env(cls, dags_folder: Path, env: Mapping[str, str] | None = None) -> DagSettings:
        """`$FEATURELAKE_CONF` (else conf/local.yaml beside dags/), `$FEATURELAKE_JOBS_DIR`
        (else jobs/ beside dags/), `$FEATURELAKE_SPARK_CONN_ID` (else spark_default),
        `$FEATURELAKE_SPARK_SUBMIT` (else the venv's), `$FEATURELAKE_DAG_RETRIES` (else 2)."""
        env = os.environ if env is None else env
        project = dags_folder.resolve().parent
        venv_submit = Path(sys.executable).parent / "spark-submit"
        default_submit = str(venv_submit) if venv_submit.exists() else "spark-submit"
        return cls(
            conf_path=Path(env.get("FEATURELAKE_CONF") or project / "conf" / "local.yaml").resolve(),
            jobs_dir=Path(env.get("FEATURELAKE_JOBS_DIR") or project / "jobs").resolve(),
            spark_submit=env.get("FEATURELAKE_SPARK_SUBMIT") or default_submit,
            spark_conn_id=env.get("FEATURELAKE_SPARK_CONN_ID") or "spark_default",
            retries=int(env.get("FEATURELAKE_DAG_RETRIES") or 2),
        )


def load_applied(settings: DagSettings) -> tuple[FeaturelakeConfig, Registry]:
    from featurelake.registry import NothingAppliedError

    config = load_config(settings.conf_path)
    store = RegistryStore(config.lake_root)
    registry = store.load()
    if registry is None:
        raise NothingAppliedError(path=store.root)
    return config, registry


def timetable(schedule: str) -> Any:
    """A data-interval timetable (Airflow 3's default cron timetable has none) in UTC."""
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(PRESET_CRONS.get(schedule, schedule), timezone="UTC")


def _doc_md(view: FeatureView, origin: str) -> str:
    rows = "\n".join(f"| `{f.name}` | {f.dtype} | {f.description or ''} |" for f in view.features)
    online = "online (Redis) and offline (Delta)" if view.online else "offline (Delta) only"
    return (
        f"### {view.name} v{view.version}\n\n{view.description or ''}\n\n"
        f"Owner: **{view.owner}**; spec: `{origin}`; {online}; ttl {view.ttl}; "
        f"freshness_sla {view.freshness_sla or 'none'}; schedule {view.schedule}.\n\n"
        f"| feature | dtype | description |\n|---|---|---|\n{rows}\n"
    )


def spark_jars(conf_path: str) -> str:
    """The Delta jars for spark-submit, found when the task runs (parsing needs no jars)."""
    from featurelake.spark.jars import delta_jars

    return ",".join(str(j) for j in delta_jars(load_config(conf_path).spark.jars_dir))


def _spark_submit(
    task_id: str, job: str, view: str, args: list[str], settings: DagSettings, config: FeaturelakeConfig
) -> Any:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from featurelake.spark.cds import cds_environment
    from featurelake.spark.session import settings_without_jars

    env = {"PYSPARK_PYTHON": sys.executable, "FEATURELAKE_CONF": str(settings.conf_path), **cds_environment(config)}
    if config.spark.master.startswith("local"):
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(settings.jobs_dir / job),
        application_args=[*args, "--conf", str(settings.conf_path)],
        conn_id=settings.spark_conn_id,
        spark_binary=settings.spark_submit,
        conf=settings_without_jars(config),
        jars=f"{{{{ featurelake_spark_jars({str(settings.conf_path)!r}) }}}}",
        env_vars=env,
        name=f"featurelake-{task_id}-{view}",
    )


def build_view_dag(view: FeatureView, origin: str, config: FeaturelakeConfig, settings: DagSettings) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from featurelake.orchestration.tasks import alert_on_failure, check_view_freshness, validation_gate

    conf = str(settings.conf_path)
    with DAG(
        dag_id=f"{DAG_PREFIX}{view.name}",
        schedule=timetable(view.schedule),
        start_date=settings.start_date,
        catchup=False,
        max_active_runs=1,  # overlapping recomputes of one view would race on its table
        auto_register=False,  # only finished DAGs reach Airflow: the DAG file exports them
        tags=sorted({"featurelake", f"team:{view.owner}", *view.tags}),
        doc_md=_doc_md(view, origin),
        user_defined_macros={"featurelake_interval": interval_days, "featurelake_spark_jars": spark_jars},
        default_args={
            "owner": view.owner,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "on_failure_callback": alert_on_failure,
        },
    ) as dag:
        interval = ["--start", INTERVAL_START, "--end", INTERVAL_LAST_DAY]
        compute = _spark_submit(
            "compute", "compute_features.py", view.name, ["backfill", view.name, *interval], settings, config
        )
        gate = PythonOperator(
            task_id="validation_gate",
            python_callable=validation_gate,
            op_kwargs={"conf_path": conf, "view": view.name, "start": INTERVAL_START, "end": INTERVAL_LAST_DAY},
            retries=0,
        )
        freshness = PythonOperator(
            task_id="check_freshness",
            python_callable=check_view_freshness,
            op_kwargs={"conf_path": conf, "view": view.name, "as_of": INTERVAL_END},
            retries=0,  # a breach is a finding, not a flaky failure
        )
        if view.online:
            materialize = _spark_submit("materialize", "materialize.py", view.name, [view.name], settings, config)
            compute >> gate >> materialize >> freshness
        else:
            compute >> gate >> freshness
    return dag


def build_monitor_dag(registry: Registry, settings: DagSettings) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from featurelake.orchestration.tasks import check_view_freshness

    with DAG(
        dag_id=MONITOR_DAG_ID,
        schedule=timetable("@hourly"),
        start_date=settings.start_date,
        catchup=False,
        max_active_runs=1,
        auto_register=False,  # only finished DAGs reach Airflow: the DAG file exports them
        tags=["featurelake", "monitoring"],
        doc_md="Checks every feature view against its `freshness_sla` (Redis for online views, "
        "Delta for offline ones) every hour; a breach fails that view's task and alerts.",
    ) as dag:
        PythonOperator.partial(
            task_id="check_freshness",
            python_callable=check_view_freshness,
            retries=0,
            map_index_template="{{ task.op_kwargs['view'] }}",
        ).expand(op_kwargs=[{"conf_path": str(settings.conf_path), "view": name} for name in sorted(registry.views)])
    return dag


def build_dags(settings: DagSettings) -> tuple[dict[str, Any], list[FeaturelakeError]]:
    """Every DAG that builds, by dag_id, and the errors of those that did not."""
    try:
        config, registry = load_applied(settings)
    except FeaturelakeError as exc:
        return {}, [exc]
    dags: dict[str, Any] = {}
    errors: list[FeaturelakeError] = []
    for name, view in sorted(registry.views.items()):
        origin = registry.origins.get(f"feature_view:{name}", "?")
        try:
            dags[f"{DAG_PREFIX}{name}"] = build_view_dag(view, origin, config, settings)
        except Exception as exc:
            errors.append(DagBuildError(view=name, origin=origin, problem=f"{type(exc).__name__}: {exc}"))
    if registry.views:
        dags[MONITOR_DAG_ID] = build_monitor_dag(registry, settings)
    return dags, errors


def raise_build_errors(settings: DagSettings) -> None:
    """Raise one error naming every view whose DAG failed to build (an import error in the UI)."""
    _, errors = build_dags(settings)
    if errors:
        raise DagBuildErrors(count=len(errors), lines="\n".join(f"  {e}" for e in errors))
