"""How one entity's row of a view is stored in Redis: one string value per (view, entity).

    value = header (32 hex chars: event_timestamp µs, created_timestamp µs) + msgpack payload

The fixed-width hex header sorts like (event_timestamp, created_timestamp), so the
newer-wins script compares headers as strings without decoding anything; one string
per entity and view lets a read of any number of features, views and entities be one MGET.
Payload: the view's feature values in declared order; embeddings as float32 bytes,
timestamps as µs since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from featurelake.specs.models import FeatureView

HEADER_CHARS = 32
_NATIVE = {int, float, str, bool, type(None), list}  # what arrow's to_pydict gives: packed as they are
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def header(event_us: int, created_us: int) -> str:
    """Sortable header; times before 1970 are clamped to 0 (they sort first)."""
    return f"{max(event_us, 0):016x}{max(created_us, 0):016x}"


def parse_header(value: bytes) -> tuple[int, int]:
    return int(value[:16], 16), int(value[16:HEADER_CHARS], 16)


@dataclass(frozen=True)
class ViewCodec:
    """Encodes and decodes the rows of one view version."""

    features: tuple[str, ...]
    dtypes: tuple[str, ...]

    @classmethod
    def for_view(cls, view: FeatureView) -> ViewCodec:
        return cls(tuple(f.name for f in view.features), tuple(f.dtype for f in view.features))

    def encode(self, event_us: int, created_us: int, values: list[Any]) -> bytes:
        import msgpack
        import numpy as np

        packed = [
            np.asarray(v, dtype=np.float32).tobytes() if (d == "embedding" and v is not None)
            else v if type(v) in _NATIVE else _plain(v)
            for v, d in zip(values, self.dtypes, strict=True)
        ]  # fmt: skip
        payload: bytes = msgpack.packb(packed, use_bin_type=True)
        return header(event_us, created_us).encode() + payload

    def decode(self, value: bytes) -> list[Any]:
        import msgpack
        import numpy as np

        payload = msgpack.unpackb(value[HEADER_CHARS:], raw=False)
        return [
            np.frombuffer(v, dtype=np.float32) if (d == "embedding" and v is not None) else v
            for v, d in zip(payload, self.dtypes, strict=True)
        ]


def _plain(value: Any) -> Any:
    """msgpack-able: timestamps as µs, numpy scalars and arrays as Python values."""
    if isinstance(value, datetime):
        return micros(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
