"""Spark compute: feature views -> daily/row feature tables in Delta."""
