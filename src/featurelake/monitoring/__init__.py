"""Freshness checks and alerts: what replaces Airflow 2's SLA misses."""
