"""Bad source data: a typed error naming view, source and column, and nothing written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurelake.compute.backfill import backfill_view
from featurelake.compute.errors import (
    DateRangeError,
    EmbeddingDimensionError,
    NullEntityKeysError,
    SourceColumnMissingError,
    SourceColumnTypeError,
    SourceNotFoundError,
    UnparsableTimestampsError,
)
from featurelake.offline.tables import table_path
from featurelake.registry.compile import compile_repo
from featurelake.registry.model import Registry

SPEC = """
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - {name: clicks, format: parquet, path: raw/clicks, timestamp: ts}
  - {name: vectors, format: parquet, path: raw/vectors, timestamp: ts}
feature_view:
  name: clicks_7d
  version: 1
  entity: user
  source: clicks
  owner: test
  ttl: 7d
  features:
    - {name: clicks_7d, dtype: int64, aggregation: {function: count, window: 7d}}
    - {name: value_7d, dtype: double, expression: value, aggregation: {function: sum, window: 7d}}
"""
VECTORS = """
feature_view:
  name: vectors
  version: 1
  entity: user
  source: vectors
  owner: test
  ttl: 7d
  features:
    - {name: vec, dtype: embedding, dim: 4}
"""
DAY = date(2025, 1, 5)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    repo = tmp_path_factory.mktemp("error_specs")
    (repo / "specs.yaml").write_text(SPEC)
    (repo / "vectors.yaml").write_text(VECTORS)
    return compile_repo(repo, "errors")


def write_source(lake: Path, name: str, frame: pd.DataFrame) -> None:
    (lake / "raw" / name).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(lake / "raw" / name / "part-0.parquet", coerce_timestamps="us", allow_truncated_timestamps=True)


def clicks(**overrides: object) -> pd.DataFrame:
    frame = pd.DataFrame({
        "user_id": [1, 2, 3, 1],
        "ts": pd.to_datetime(["2025-01-03 10:00", "2025-01-04 11:00", "2025-01-05 12:00", "2025-01-05 13:00"],
                             utc=True),
        "value": [1.0, 2.0, 3.0, 4.0],
    })  # fmt: skip
    for column, value in overrides.items():
        frame[column] = value
    return frame


def assert_nothing_written(registry: Registry, lake: Path, view: str = "clicks_7d") -> None:
    assert not Path(table_path(str(lake), registry.view(view))).exists()


def test_good_source_computes(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(tmp_path, "clicks", clicks())
    result = backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    rows = {
        r["user_id"]: (r["clicks_7d"], r["value_7d"]) for r in spark.read.format("delta").load(result.table).collect()
    }
    assert rows == {1: (2, 5.0), 2: (1, 2.0), 3: (1, 3.0)}


def test_missing_source_path(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceNotFoundError, match=r"view clicks_7d: source clicks has no data at .*raw/clicks"):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert_nothing_written(registry, tmp_path)


def test_renamed_column(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(tmp_path, "clicks", clicks().rename(columns={"value": "amount"}))
    with pytest.raises(SourceColumnMissingError, match="view clicks_7d: source clicks has no column 'value'"):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert_nothing_written(registry, tmp_path)


def test_wrong_column_type(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(tmp_path, "clicks", clicks(value=["a", "b", "c", "d"]))
    with pytest.raises(SourceColumnTypeError, match="column 'value' of source clicks is string, but double is needed"):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert_nothing_written(registry, tmp_path)


def test_numeric_timestamps_are_refused(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(tmp_path, "clicks", clicks(ts=[1, 2, 3, 4]))
    with pytest.raises(SourceColumnTypeError, match="column 'ts' of source clicks is bigint"):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)


def test_unparsable_string_timestamps(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(
        tmp_path, "clicks", clicks(ts=["2025-01-03T10:00:00", "yesterday", "2025-01-05T12:00:00", "2025-13-45"])
    )
    with pytest.raises(UnparsableTimestampsError) as err:
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert "2 value(s) of timestamp column 'ts' in source clicks" in str(err.value)
    assert "'yesterday'" in str(err.value)
    assert_nothing_written(registry, tmp_path)


def test_parsable_string_timestamps_work(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(
        tmp_path,
        "clicks",
        clicks(ts=["2025-01-03T10:00:00", "2025-01-04 11:00:00", "2025-01-05T12:00:00Z", "2025-01-05 13:00"]),
    )
    result = backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert result.source_events == 4


def test_null_entity_keys(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_source(tmp_path, "clicks", clicks(user_id=pd.array([1, None, 3, None], dtype="Int64")))
    with pytest.raises(
        NullEntityKeysError, match=r"view clicks_7d: 2 row.s. of source clicks .* null entity key 'user_id'"
    ):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), DAY, DAY)
    assert_nothing_written(registry, tmp_path)


def test_wrong_embedding_dimension(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vectors = [np.ones(4, np.float32), np.ones(3, np.float32), np.ones(4, np.float32)]
    frame = pd.DataFrame({"user_id": [1, 2, 3], "ts": pd.to_datetime(["2025-01-05"] * 3, utc=True), "vec": vectors})
    write_source(tmp_path, "vectors", frame)
    with pytest.raises(
        EmbeddingDimensionError,
        match=r"1 value.s. of embedding feature 'vec' do not have the declared dim 4 \(e.g. lengths 3\)",
    ):
        backfill_view(spark, registry, "vectors", str(tmp_path), DAY, DAY)
    assert_nothing_written(registry, tmp_path, "vectors")


def test_start_after_end(spark, registry: Registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DateRangeError):
        backfill_view(spark, registry, "clicks_7d", str(tmp_path), date(2025, 2, 1), date(2025, 1, 1))
