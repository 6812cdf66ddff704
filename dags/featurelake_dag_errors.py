"""Airflow import error for feature views whose DAG could not be built: one error naming
each such view and its spec (path:line), while the other views' DAGs, built by
featurelake_dags.py, keep loading."""

from pathlib import Path

from featurelake.orchestration.dags import DagSettings, raise_build_errors

raise_build_errors(DagSettings.from_env(Path(__file__).parent))
