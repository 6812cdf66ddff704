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
