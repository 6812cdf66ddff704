"""Encoding a whole Arrow batch of rows into Redis keys and values, column by column.

Produces exactly what `ViewCodec.encode` and `entity_key` produce row by row (same keys,
same headers, payloads that decode to the same values) without a Python call per row:
each feature column becomes an array of msgpack cells built with numpy, and the cells of
a row are joined by Arrow. Integers and doubles always take their 9-byte msgpack form,
strings the str32 form, embeddings bin32 (float32 bytes): valid msgpack that any
reader decodes to the same values as the compact forms `msgpack.packb` picks.

Key columns of other types than integers and strings, and `array<double>` features, fall
back to the row-by-row codec (`encode_rows`), so every view can be written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from featurelake.online.codec import ViewCodec
from featurelake.online.keys import entity_key

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

EVENT_US = "_event_us"
CREATED_US = "_created_us"
_NIL = b"\xc0"
_VECTOR_DTYPES = {"int64", "double", "bool", "timestamp", "string", "embedding"}


def encode_batch(
    batch: pa.RecordBatch, prefix: str, keys: Sequence[str], codec: ViewCodec
) -> tuple[list[bytes], list[bytes]]:
    """Redis keys and values of every row of `batch` (columns: keys, _event_us, _created_us, features)."""
    import pyarrow.compute as pc

    if not _vectorisable(batch, keys, codec):
        return encode_rows(batch, prefix, keys, codec)
    header = _header(batch.column(EVENT_US), batch.column(CREATED_US))
    cells = [_cell(batch.column(name), dtype) for name, dtype in zip(codec.features, codec.dtypes, strict=True)]
    empty = _binary_scalar(b"")
    values = pc.binary_join_element_wise(header, _binary_scalar(_array_marker(len(cells))), *cells, empty)
    return _key_array(batch, prefix, keys).to_pylist(), values.to_pylist()


def encode_rows(
    batch: pa.RecordBatch, prefix: str, keys: Sequence[str], codec: ViewCodec
) -> tuple[list[bytes], list[bytes]]:
    """The row-by-row codec, for what `encode_batch` cannot vectorise."""
    columns = batch.to_pydict()
    events, created = columns[EVENT_US], columns[CREATED_US]
    features = [columns[name] for name in codec.features]
    entity_keys = [entity_key(prefix, values).encode() for values in zip(*[columns[k] for k in keys], strict=True)]
    values = [codec.encode(events[i], created[i], [f[i] for f in features]) for i in range(len(entity_keys))]
    return entity_keys, values


def _vectorisable(batch: pa.RecordBatch, keys: Sequence[str], codec: ViewCodec) -> bool:
    import pyarrow as pa

    key_types_ok = all(
        pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
        for t in (batch.schema.field(k).type for k in keys)
    )
    return key_types_ok and all(d in _VECTOR_DTYPES for d in codec.dtypes) and len(codec.dtypes) < 65536


def _binary_scalar(value: bytes) -> pa.Scalar:
    import pyarrow as pa

    return pa.scalar(value, pa.binary())


def _array_marker(n: int) -> bytes:
    return bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")


def _key_array(batch: pa.RecordBatch, prefix: str, keys: Sequence[str]) -> pa.Array:
    """`<prefix><k1>|<k2>`, nulls spelled `None` (as `str(None)` in `entity_key`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [pc.fill_null(pc.cast(batch.column(k), pa.string()), "None") for k in keys]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")
    return pc.cast(pc.binary_join_element_wise(pa.scalar(prefix), joined, ""), pa.binary())


def _header(event_us: pa.Array, created_us: pa.Array) -> pa.Array:
    """32 lowercase hex digits per row, like `codec.header` (times before 1970 clamp to 0)."""
    import numpy as np

    digits = np.concatenate([_hex16(event_us), _hex16(created_us)], axis=1)
    return _fixed_cells(digits)


def _hex16(micros: pa.Array) -> np.ndarray:
    import numpy as np

    values = np.maximum(micros.to_numpy(zero_copy_only=False), 0).astype(">u8")
    octets = values.view(np.uint8).reshape(-1, 8)
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.empty((len(values), 16), dtype=np.uint8)
    digits[:, 0::2] = alphabet[octets >> 4]
    digits[:, 1::2] = alphabet[octets & 0x0F]
    return digits


def _fixed_cells(matrix: np.ndarray) -> pa.Array:
    """A binary array whose row i is the bytes of matrix[i] (a 2-D uint8 array)."""
    import numpy as np
    import pyarrow as pa

    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(matrix)
    return pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _cell(column: pa.Array, dtype: str) -> pa.Array:
    import pyarrow.compute as pc

    if dtype == "string":
        cells = _string_cells(column)
    elif dtype == "embedding":
        cells = _float32_bin_cells(column)
    elif dtype == "bool":
        cells = pc.if_else(column, _binary_scalar(b"\xc3"), _binary_scalar(b"\xc2"))
    else:
        cells = _number_cells(column, dtype)
    if column.null_count:
        cells = pc.if_else(column.is_null(), _binary_scalar(_NIL), cells)
    return cells


def _number_cells(column: pa.Array, dtype: str) -> pa.Array:
    """int64 (and timestamps as µs) -> 0xd3 + big-endian int64; double -> 0xcb + big-endian float64."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if dtype == "double":
        marker, numbers = 0xCB, pc.fill_null(pc.cast(column, pa.float64()), 0.0).to_numpy().astype(">f8")
    else:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(pc.cast(column, pa.timestamp("us", tz=column.type.tz)), pa.int64())
        marker, numbers = 0xD3, pc.fill_null(pc.cast(column, pa.int64()), 0).to_numpy().astype(">i8")
    matrix = np.empty((len(numbers), 9), dtype=np.uint8)
    matrix[:, 0] = marker
    matrix[:, 1:] = numbers.view(np.uint8).reshape(-1, 8)
    return _fixed_cells(matrix)


def _length_prefixed(marker: int, lengths: np.ndarray) -> np.ndarray:
    import numpy as np

    matrix = np.empty((len(lengths), 5), dtype=np.uint8)
    matrix[:, 0] = marker
    matrix[:, 1:] = lengths.astype(">u4").view(np.uint8).reshape(-1, 4)
    return matrix


def _string_cells(column: pa.Array) -> pa.Array:
    """str32: 0xdb + big-endian byte length + UTF-8 bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pc.fill_null(column, ""), pa.binary())
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False)
    return pc.binary_join_element_wise(_fixed_cells(_length_prefixed(0xDB, lengths)), text, _binary_scalar(b""))


def _float32_bin_cells(column: pa.Array) -> pa.Array:
    """bin32: 0xc6 + big-endian byte length + the vector as little-endian float32 (nulls inside -> NaN)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets = column.offsets.to_numpy().astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    flat = pc.fill_null(pc.cast(column.values.slice(start, end - start), pa.float32()), np.nan)
    data = flat.to_numpy(zero_copy_only=False).astype("<f4")
    byte_offsets = ((offsets - start) * 4).astype(np.int32)
    vectors = pa.Array.from_buffers(pa.binary(), len(column), [None, pa.py_buffer(byte_offsets), pa.py_buffer(data)])
    prefixes = _fixed_cells(_length_prefixed(0xC6, np.diff(byte_offsets)))
    return pc.binary_join_element_wise(prefixes, vectors, _binary_scalar(b""))
