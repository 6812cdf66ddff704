"""The batch encoder must give what the row-by-row codec gives: the same keys, the same
headers, payloads that decode to the same values, for every dtype, with nulls, slices,
composite and string keys, times before 1970, and views the batch path does not cover."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from featurelake.online.batch_codec import encode_batch, encode_rows
from featurelake.online.codec import ViewCodec, parse_header


def random_batch(seed: int, n: int = 700) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)

    def maybe(values: list[object], every: int) -> list[object]:
        return [None if i % every == 0 else v for i, v in enumerate(values)]

    vectors = [[float(x) if j % 5 else None for j, x in enumerate(rng.random(3))] for _ in range(n)]
    return pa.record_batch({
        "user_id": pa.array(rng.integers(-(2**40), 2**40, n)),
        "region": pa.array(maybe([f"r{i % 13}é" for i in range(n)], 17)),
        "_event_us": pa.array(rng.integers(-(10**6), 2**53, n)),
        "_created_us": pa.array(rng.integers(0, 2**53, n)),
        "score": pa.array(maybe([float(x) for x in rng.normal(size=n)], 6), pa.float64()),
        "count": pa.array(maybe([int(x) for x in rng.integers(-(2**62), 2**62, n)], 9), pa.int64()),
        "flag": pa.array(maybe([bool(x) for x in rng.integers(0, 2, n)], 4)),
        "label": pa.array(maybe(["x" * int(k) + "ü" for k in rng.integers(0, 300, n)], 3)),
        "seen_at": pa.array(maybe([int(x) for x in rng.integers(0, 2**50, n)], 8), pa.int64()),
        "vec": pa.array(maybe(vectors, 7), pa.list_(pa.float32())),
    })  # fmt: skip


CODEC = ViewCodec(
    ("score", "count", "flag", "label", "seen_at", "vec"),
    ("double", "int64", "bool", "string", "timestamp", "embedding"),
)


def _plain(values: list[object]) -> list[object]:
    return [
        [None if math.isnan(x) else x for x in v.tolist()] if isinstance(v, np.ndarray)
        else None if isinstance(v, float) and math.isnan(v) else v
        for v in values
    ]  # fmt: skip


@pytest.mark.parametrize("keys", [("user_id",), ("region",), ("user_id", "region")])
def test_batch_encoding_matches_the_row_codec(keys: tuple[str, ...]) -> None:
    batch = random_batch(seed=len(keys)).slice(5, 650)  # a slice: offsets into shared buffers
    got_keys, got_values = encode_batch(batch, "p:view:v1:", keys, CODEC)
    want_keys, want_values = encode_rows(batch, "p:view:v1:", keys, CODEC)
    assert got_keys == want_keys and len(got_keys) == 650
    for got, want in zip(got_values, want_values, strict=True):
        assert parse_header(got) == parse_header(want)
        assert _plain(CODEC.decode(got)) == _plain(CODEC.decode(want))


def test_times_before_1970_clamp_to_zero_in_the_header() -> None:
    batch = pa.record_batch({"k": [1], "_event_us": [-5], "_created_us": [2**40], "score": [1.5]})
    _, values = encode_batch(batch, "p:", ("k",), ViewCodec(("score",), ("double",)))
    assert parse_header(values[0]) == (0, 2**40)


def test_views_the_batch_path_does_not_cover_fall_back_to_the_row_codec() -> None:
    codec = ViewCodec(("xs",), ("array<double>",))
    batch = pa.record_batch({"day": pa.array([True, False]), "_event_us": [1, 2], "_created_us": [1, 2],
                             "xs": pa.array([[1.0, None], None], pa.list_(pa.float64()))})  # fmt: skip
    keys, values = encode_batch(batch, "p:", ("day",), codec)
    assert keys == [b"p:True", b"p:False"]  # str(True), as entity_key spells it
    assert [codec.decode(v) for v in values] == [[[1.0, None]], [None]]
