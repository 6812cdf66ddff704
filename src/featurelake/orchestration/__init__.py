"""Airflow 3 DAGs generated from the compiled registry (see dags/ and docs/airflow.md)."""
