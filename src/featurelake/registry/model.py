"""The compiled registry: every entity, source, view and service of a repo, checked.

Stored as JSON (see registry.store); reloading revalidates through the same spec models.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from featurelake.errors import FeaturelakeError
from featurelake.specs.models import Entity, Feature, FeatureService, FeatureView, Source

FORMAT_VERSION = 1


class UnknownViewError(FeaturelakeError):
    template = "unknown feature view {name!r}{hint}; `featurelake list` shows the applied views"


class UnknownFeatureError(FeaturelakeError):
    template = "feature view {view!r} has no feature {name!r}{hint}; `featurelake describe {view}` lists them"


class UnknownFeatureServiceError(FeaturelakeError):
    template = "unknown feature service {name!r}{hint}"


class BadFeatureRefError(FeaturelakeError):
    template = "feature reference {ref!r} is not `view:feature` (or `view` for all its features)"


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class FeatureRef:
    view: str
    feature: str

    def __str__(self) -> str:
        return f"{self.view}:{self.feature}"


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = FORMAT_VERSION
    project: str
    entities: dict[str, Entity] = Field(default_factory=dict)
    sources: dict[str, Source] = Field(default_factory=dict)
    views: dict[str, FeatureView] = Field(default_factory=dict)
    feature_services: dict[str, FeatureService] = Field(default_factory=dict)
    origins: dict[str, str] = Field(default_factory=dict, description="'kind:name' -> 'path:line'")

    def view(self, name: str) -> FeatureView:
        if name not in self.views:
            raise UnknownViewError(name=name, hint=_hint(name, list(self.views)))
        return self.views[name]

    def feature(self, view: str, name: str) -> Feature:
        for feature in self.view(view).features:
            if feature.name == name:
                return feature
        names = [f.name for f in self.views[view].features]
        raise UnknownFeatureError(view=view, name=name, hint=_hint(name, names))

    def join_keys(self, view: str) -> list[str]:
        return list(self.entities[self.view(view).entity].join_keys)

    def timestamp_column(self, view: str) -> str:
        spec = self.view(view)
        return spec.timestamp or self.sources[spec.source].timestamp

    def resolve_refs(self, refs: list[str]) -> list[FeatureRef]:
        """`view:feature` / `view` references -> FeatureRefs, checked, in request order."""
        resolved: list[FeatureRef] = []
        for ref in refs:
            view, sep, feature = ref.strip().partition(":")
            if not view or (sep and not feature):
                raise BadFeatureRefError(ref=ref)
            if sep:
                self.feature(view, feature)
                resolved.append(FeatureRef(view, feature))
            else:
                resolved += [FeatureRef(view, f.name) for f in self.view(view).features]
        return resolved

    def service_refs(self, name: str) -> list[FeatureRef]:
        if name not in self.feature_services:
            raise UnknownFeatureServiceError(name=name, hint=_hint(name, list(self.feature_services)))
        return self.resolve_refs(self.feature_services[name].features)

    def content_hash(self) -> str:
        """Hash of what the specs say (origins excluded: moving a file changes nothing)."""
        data = self.model_dump(mode="json", exclude={"origins"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def meaning(view: FeatureView) -> dict[str, Any]:
    """What a view version promises its readers; changing any of it needs a new version."""
    return {
        "entity": view.entity,
        "source": view.source,
        "timestamp": view.timestamp,
        "features": {
            f.name: {
                "dtype": f.dtype,
                "dim": f.dim,
                "expression": f.source_expression,
                "aggregation": f.aggregation.model_dump() if f.aggregation else None,
            }
            for f in view.features
        },
    }
