"""Typed errors of similarity search: one class per condition, each saying how to fix it."""

from __future__ import annotations

from featurelake.errors import FeaturelakeError


class IndexNotDeclaredError(FeaturelakeError):
    template = (
        "{ref} has no similarity index: add `index: {{metric: cosine}}` to the feature in its spec "
        "(an embedding of an online view), apply, and materialize the view"
    )


class IndexNotBuiltError(FeaturelakeError):
    template = "no index of {ref} has been built yet (nothing at {location}): run `featurelake materialize {view}`"


class IndexFilesError(FeaturelakeError):
    template = (
        "index {index_id} of {ref} at {location}: {problem}; run `featurelake materialize {view} --full` to rebuild it"
    )


class QueryShapeError(FeaturelakeError):
    template = "similarity query on {ref}: {problem}"


class VectorError(FeaturelakeError):
    template = "similarity query on {ref}: the vector {problem}"


class KOutOfRangeError(FeaturelakeError):
    template = "similarity query on {ref}: k={k} is out of range; ask for 1 to {limit} neighbours"


class EntityNotIndexedError(FeaturelakeError):
    template = (
        "entity {entity} is not in index {index_id} of {ref}: it has no row at Delta version {delta_version}, "
        "its row is past the view's ttl, or its vector is null; query by `vector` instead"
    )


class FilterError(FeaturelakeError):
    template = "similarity filter on {ref}: {problem}"
