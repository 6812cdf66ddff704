"""Property-based tests (hypothesis) of labels files: parquet and csv with join keys of every
type (and missing), timestamps at the edges of the range, dates, ISO and garbage strings,
nulls, huge strings, duplicates, name clashes, and files that are not what they claim. Every
case ends in a typed error or a correct training set (one row per label, the labels' columns
unchanged), never a traceback, within a bounded time. Runs in this session's Spark against the
S3 lake; `pytest --soak` runs 300 cases instead of 12."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelake import FeatureStore
from featurelake.errors import FeaturelakeError

pytestmark = pytest.mark.slow
FEATURES = ["user_stats:spend_30d", "user_stats:purchases_7d"]
CASE_DEADLINE_MS = 60_000  # a Spark job per case; a hang would take far longer

_EDGE_TIMES = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
               datetime(1970, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, 12, tzinfo=UTC)]  # fmt: skip
_TIMES = st.one_of(st.sampled_from(_EDGE_TIMES), st.datetimes(timezones=st.just(UTC)))
_NASTY_STRINGS = ["", "2025-01-03", "2025-01-03T10:00:00Z", "x" * 100_000, "NaN", "-1", "9" * 30, "1e999", "\x00",
                  "'", '"', ","]  # fmt: skip
_STRINGS = st.one_of(st.text(max_size=12), st.sampled_from(_NASTY_STRINGS))
_KEYS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "small": (pa.int64(), st.integers(0, 90)),  # mostly users the lake knows
    "int32": (pa.int32(), st.integers(0, 90)),
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "string": (pa.string(), _STRINGS),
    "bool": (pa.bool_(), st.booleans()),
}
_TIME_COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "timestamp": (pa.timestamp("us", tz="UTC"), _TIMES),
    "naive": (pa.timestamp("us"), _TIMES.map(lambda t: t.replace(tzinfo=None))),
    "date": (pa.date32(), st.dates(min_value=date(1, 1, 1))),
    "string": (pa.string(), st.one_of(_TIMES.map(lambda t: t.isoformat()), _STRINGS)),
    "int": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
}


@st.composite
def labels_file(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 25))
    # Weighted towards files that can be built, so the correct-result path is exercised too.
    key_type, key_values = _KEYS[draw(st.sampled_from([*sorted(_KEYS), "small", "small", "small", "int32"]))]
    ts_type, ts_values = _TIME_COLUMNS[draw(st.sampled_from([*sorted(_TIME_COLUMNS), "timestamp", "timestamp"]))]
    columns: dict[str, pa.Array] = {}
    nullable = draw(st.booleans())

    def column(values: st.SearchStrategy[Any], kind: pa.DataType, nulls: bool = nullable) -> pa.Array:
        items = draw(st.lists(st.one_of(st.none(), values) if nulls else values, min_size=n, max_size=n))
        return pa.array(items, type=kind)

    if draw(st.integers(0, 9)):  # sometimes no join key at all
        columns["user_id"] = column(key_values, key_type)
    if draw(st.integers(0, 9)):
        columns["event_timestamp"] = column(ts_values, ts_type, nulls=draw(st.integers(0, 3)) == 0)
    columns["label"] = column(_STRINGS, pa.string())
    if draw(st.integers(0, 9)) == 0:
        columns["spend_30d"] = column(st.floats(), pa.float64())  # clashes with a feature's name
    table = pa.table(columns)
    if n and draw(st.booleans()):
        table = pa.concat_tables([table, table.slice(0, draw(st.integers(1, n)))])  # duplicate rows
    return {"table": table, "format": draw(st.sampled_from(["parquet", "parquet", "parquet", "csv", "csv", "garbage"]))}


def _write(case: dict[str, Any], folder: Path) -> Path:
    table: pa.Table = case["table"]
    if case["format"] == "parquet":
        path = folder / "labels.parquet"
        pq.write_table(table, path)
    elif case["format"] == "csv":
        path = folder / "labels.csv"
        rows = [",".join(table.column_names)]
        rows += [",".join("" if v is None else str(v) for v in row.values()) for row in table.to_pylist()]
        path.write_text("\n".join(rows) + "\n")
    else:  # not a parquet file at all, or one cut short
        path = folder / "labels.parquet"
        pq.write_table(table, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="module")
def store(guarded_lake, spark) -> FeatureStore:  # type: ignore[no-untyped-def]
    return FeatureStore(conf=guarded_lake.conf, spark=spark)


def _check(case: dict[str, Any], store: FeatureStore, folder: Path, outcomes: Counter[str]) -> None:
    labels = _write(case, folder)
    output = folder / "out"
    try:
        info = store.build_training_set(str(labels), str(output), FEATURES, overwrite=True)
    except FeaturelakeError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        outcomes[type(exc).__name__] += 1
        return
    assert case["format"] != "garbage", "a cut-short file was read as labels"
    built = pq.read_table(output)
    assert built.num_rows == info.label_rows == case["table"].num_rows
    if case["format"] == "parquet":
        got = sorted(map(_row_key, built.select(["label"]).to_pylist()))
        assert got == sorted(map(_row_key, case["table"].select(["label"]).to_pylist()))
    outcomes["built"] += 1


def _row_key(row: dict[str, Any]) -> str:
    return repr({k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})


def test_any_labels_file_gives_a_typed_error_or_a_correct_training_set(store, soak: bool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outcomes: Counter[str] = Counter()
    cases = iter(range(10**9))

    @settings(max_examples=300 if soak else 12, deadline=CASE_DEADLINE_MS, derandomize=not soak, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(labels_file())
    def case(generated: dict[str, Any]) -> None:
        folder = tmp_path / f"case-{next(cases)}"
        folder.mkdir()
        _check(generated, store, folder, outcomes)

    case()
    print(f"labels files: {sum(outcomes.values())} cases: {dict(outcomes)}")
    assert sum(outcomes.values()) >= (300 if soak else 12)
