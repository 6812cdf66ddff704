"""A source's column names, read cheaply without Spark (for offline validation).

Declared `columns:` win. Otherwise, when the data exists locally: a parquet footer,
the newest metaData of a Delta log, or a CSV header. Unknown (remote, missing): None,
and column checks wait until compute time.
"""

from __future__ import annotations

import json
from pathlib import Path

from featurelake.specs.models import Source


def source_location(source: Source, lake_root: str) -> str:
    if "://" in source.path or Path(source.path).is_absolute():
        return source.path
    return f"{lake_root.rstrip('/')}/{source.path}"


def source_columns(source: Source, lake_root: str) -> set[str] | None:
    if source.columns:
        return set(source.columns)
    location = source_location(source, lake_root)
    if "://" in location:
        return None
    path = Path(location)
    if not path.exists():
        return None
    try:
        if source.format == "parquet":
            return _parquet_columns(path)
        if source.format == "delta":
            return _delta_columns(path)
        return _csv_columns(path)
    except (OSError, ValueError):
        return None


def _parquet_columns(path: Path) -> set[str] | None:
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    return set(pq.read_schema(files[0]).names) if files else None


def _delta_columns(path: Path) -> set[str] | None:
    logs = sorted((path / "_delta_log").glob("*.json"), reverse=True)
    for log in logs:
        for line in reversed(log.read_text().splitlines()):
            action = json.loads(line)
            if "metaData" in action:
                schema = json.loads(action["metaData"]["schemaString"])
                return {f["name"] for f in schema["fields"]}
    return None


def _csv_columns(path: Path) -> set[str] | None:
    files = [path] if path.is_file() else sorted(path.rglob("*.csv"))
    if not files:
        return None
    with files[0].open() as handle:
        return {c.strip() for c in handle.readline().strip().split(",")}
