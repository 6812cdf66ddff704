"""Similarity search over embedding features: an HNSW index (usearch) per indexed feature,
built by every materialization from the rows it writes to Redis, stored in the lake as
immutable versions behind a pointer, and queried the same way from Python, the CLI, the
feature server and Spark. See docs/similarity.md."""

from featurelake.similarity.errors import (
    EntityNotIndexedError,
    FilterError,
    IndexFilesError,
    IndexNotBuiltError,
    IndexNotDeclaredError,
    KOutOfRangeError,
    QueryShapeError,
    VectorError,
)
from featurelake.similarity.index import IndexCache, LoadedIndex
from featurelake.similarity.query import MAX_K, Neighbour, SimilarResult, find_similar, indexed_feature

__all__ = [
    "MAX_K",
    "EntityNotIndexedError",
    "FilterError",
    "IndexCache",
    "IndexFilesError",
    "IndexNotBuiltError",
    "IndexNotDeclaredError",
    "KOutOfRangeError",
    "LoadedIndex",
    "Neighbour",
    "QueryShapeError",
    "SimilarResult",
    "VectorError",
    "find_similar",
    "indexed_feature",
]
