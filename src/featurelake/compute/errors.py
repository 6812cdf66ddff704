"""Data errors met while computing a view: each names the view, source and column."""

from __future__ import annotations

from featurelake.errors import FeaturelakeError


class SourceNotFoundError(FeaturelakeError):
    template = "view {view}: source {source} has no data at {path}; check `path` in the source spec or the lake root"


class SourceColumnMissingError(FeaturelakeError):
    template = (
        "view {view}: source {source} has no column {column!r} (it has: {available}); the column was renamed "
        "or dropped upstream: fix the source or the feature's expression"
    )


class SourceColumnTypeError(FeaturelakeError):
    template = "view {view}: column {column!r} of source {source} is {found}, but {expected} is needed{hint}"


class UnparsableTimestampsError(FeaturelakeError):
    template = (
        "view {view}: {count} value(s) of timestamp column {column!r} in source {source} cannot be parsed, "
        "e.g. {samples}; write ISO-8601 timestamps (2025-01-31T12:00:00Z) or a timestamp column"
    )


class NullEntityKeysError(FeaturelakeError):
    template = (
        "view {view}: {count} row(s) of source {source} between {start} and {end} have a null entity key "
        "{column!r}; fix them upstream or filter them in the source"
    )


class EmbeddingDimensionError(FeaturelakeError):
    template = (
        "view {view}: {count} value(s) of embedding feature {column!r} do not have the declared dim {dim} "
        "(e.g. lengths {samples}); fix the source or the spec's `dim`"
    )


class DateRangeError(FeaturelakeError):
    template = "{problem}; dates are YYYY-MM-DD and --start must not be after --end"
