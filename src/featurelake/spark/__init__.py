"""Spark plumbing: the one SparkSession factory and the Delta jars it needs."""

from featurelake.spark.session import build_spark_session, spark_settings, spark_submit_command

__all__ = ["build_spark_session", "spark_settings", "spark_submit_command"]
