"""Airflow: one DAG per feature view of the applied registry (`featurelake__<view>`), plus
`featurelake__freshness_monitor`. Parse time reads the conf and the compiled registry only;
the tasks do the work. Views whose DAG fails to build are reported by
featurelake_dag_errors.py (an import error) instead of breaking this file.
"""

from pathlib import Path

from featurelake.orchestration.dags import DagSettings, build_dags

_dags, _errors = build_dags(DagSettings.from_env(Path(__file__).parent))
globals().update(_dags)
