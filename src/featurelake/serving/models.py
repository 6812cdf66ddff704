"""Typed request and response bodies of the feature server (its OpenAPI document comes from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

EntityValue = int | float | str | bool | None


class OnlineFeaturesRequest(BaseModel):
    """Give `features` and/or a `feature_service`, and the entities columnar (`entities`, like
    Feast) or as rows (`entity_rows`)."""

    model_config = ConfigDict(extra="forbid")

    features: list[str] | None = Field(default=None, description="view:feature references")
    feature_service: str | None = None
    entities: dict[str, list[EntityValue]] | None = Field(
        default=None, description="join key -> values, one per entity (columnar)"
    )
    entity_rows: list[dict[str, EntityValue]] | None = Field(default=None, description="one object per entity")
    full_feature_names: bool = Field(default=False, description="name columns view__feature")


class OnlineFeaturesResponse(RootModel[dict[str, list[Any]]]):
    """column -> values, one per entity, in request order; join keys first. A missing or expired
    value is the feature's default (0 for counts and sums) or null; embeddings are lists."""


class ErrorResponse(BaseModel):
    error: str


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    registry_version: int | None = None
    redis: str


class SimilarRequest(BaseModel):
    """Give `entity` (its join keys) or `vector`; `features` adds online values of each neighbour;
    `filter` keeps neighbours whose online values pass it (K results whenever K entities match)."""

    model_config = ConfigDict(extra="forbid")

    feature: str = Field(description="the indexed embedding, view:feature")
    entity: dict[str, EntityValue] | None = Field(default=None, description="start from this entity (left out)")
    vector: list[float] | None = Field(default=None, description="or from this vector (the feature's dim)")
    k: int = Field(default=10, description="how many neighbours, 1..1000")
    features: list[str] | None = Field(default=None, description="view:feature refs to return with each neighbour")
    filter: dict[str, Any] | None = Field(
        default=None, description='{"view:feature": value} or {"view:feature": {"gte": 1, "in": [..], ...}}'
    )


class NeighbourOut(BaseModel):
    entity: dict[str, Any]
    distance: float
    features: dict[str, Any]


class SimilarResponse(BaseModel):
    """Nearest first; `index_id` and `delta_version` name the one index version the answer came from."""

    feature: str
    index_id: str
    delta_version: int
    metric: str
    candidates: int
    exact: bool
    neighbours: list[NeighbourOut]
