"""Errors of the validation gate."""

from __future__ import annotations

from featurelake.errors import FeaturelakeError


class ValidationFailedError(FeaturelakeError):
    template = (
        "{summary}\nnothing was published: fix the data upstream (or the spec's expectation, "
        "or make it `severity: warn`) and rerun"
    )


class PublishedDataFailedError(FeaturelakeError):
    template = "{summary}\nthe published data of {view} fails its blocking checks: recompute the days above"
