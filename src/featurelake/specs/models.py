"""Typed spec models (pydantic v2, unknown keys forbidden).

One YAML file holds any of `entities`, `sources`, `feature_view` (one per file) and
`feature_services`. The JSON Schema for editors is generated from `SpecFile`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from featurelake.specs.expressions import ExpressionNotAllowed, check_expression

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CRON_FIELD = r"[0-9*/,\-A-Za-z?]+"
_CRON = re.compile(rf"^{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}$")
SCHEDULE_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
RESERVED_COLUMNS = {"event_timestamp", "created_timestamp", "date"}
MIN_WINDOW_S, MAX_WINDOW_S = 3600, 365 * 86400

Dtype = Literal["int64", "double", "string", "bool", "timestamp", "array<double>", "embedding"]
SourceColumnType = Literal[
    "int32", "int64", "float", "double", "string", "bool", "timestamp", "date",
    "array<double>", "array<float>",
]  # fmt: skip


def check_name(value: str) -> str:
    if not _NAME.match(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "name"
        if not suggestion[0].isalpha():
            suggestion = f"x_{suggestion}"
        raise ValueError(f"{value!r} is not a valid name: use lower snake case ({NAME_PATTERN}), e.g. {suggestion!r}")
    return value


def duration_seconds(value: str) -> int:
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration: write a number and a unit s/m/h/d/w, like 90m, 26h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return value


def _check_window(value: str) -> str:
    seconds = duration_seconds(value)
    if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
        raise ValueError(f"window {value!r} is out of range: windows go from 1h to 365d")
    if seconds % 3600:
        raise ValueError(f"window {value!r} must be whole hours (like 90m -> 2h or 1h), so windows align with buckets")
    return value


def _bare_name_to_mapping(value: Any) -> Any:
    """`- not_null` and `- between: {min: 0}` both become {kind: ..., **args}."""
    if isinstance(value, str):
        return {"kind": value}
    if isinstance(value, dict) and "kind" in value:
        return value  # already normalised (a compiled registry being read back)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, args),) = value.items()
        if args is None:
            return {"kind": kind}
        if isinstance(args, dict):
            return {"kind": kind, **args}
        raise ValueError(f"arguments of expectation {kind!r} must be a mapping like {{min: 0}}")
    raise ValueError("an expectation is a name (not_null) or one name with its arguments (between: {min: 0})")


Name = Annotated[str, AfterValidator(check_name)]
Duration = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
    AfterValidator(_check_duration),
]
Window = Annotated[str, AfterValidator(_check_window)]


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _ExpectationBase(SpecModel):
    severity: Literal["error", "warn"] = "error"

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


class NotNull(_ExpectationBase):
    kind: Literal["not_null"]


class Unique(_ExpectationBase):
    kind: Literal["unique"]


class _Range(_ExpectationBase):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> _Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Between(_Range):
    kind: Literal["between"]


class MeanBetween(_Range):
    kind: Literal["mean_between"]


class InSet(_ExpectationBase):
    kind: Literal["in_set"]
    values: list[str | int | float | bool] = Field(min_length=1)


class Regex(_ExpectationBase):
    kind: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


# The inner Annotated is the tagged union; the outer validator runs first and turns the
# YAML shapes (`not_null`, `between: {min: 0}`) into {kind: ..., **args}.
Expectation = Annotated[
    Annotated[NotNull | Unique | Between | MeanBetween | InSet | Regex, Field(discriminator="kind")],
    BeforeValidator(_bare_name_to_mapping),
]


class Aggregation(SpecModel):
    """A windowed aggregation, computed per entity per day."""

    function: Literal["count", "sum", "avg", "min", "max", "last"] = Field(
        description="count counts events (or non-null `expression` values); last is the latest non-null value."
    )
    window: Window = Field(description="How far back from the day's end the aggregate looks: 1h .. 365d.")


class VectorIndex(SpecModel):
    """An approximate nearest-neighbour (HNSW) index, rebuilt by every materialization of the view."""

    metric: Literal["cosine", "ip", "l2"] = Field(
        default="cosine", description="cosine: 1 - cos; ip: 1 - dot product; l2: squared Euclidean distance."
    )
    connectivity: int = Field(
        default=16, ge=4, le=128, description="HNSW edges per node (M): more = better recall, bigger index."
    )
    expansion_add: int = Field(
        default=128, ge=8, le=4096, description="Candidates kept while building (ef_construction)."
    )
    expansion_search: int = Field(default=128, ge=8, le=4096, description="Candidates kept while searching (ef).")


class Feature(SpecModel):
    """One feature of a view."""

    name: Name = Field(description="Lower snake case; unique in its view.")
    dtype: Dtype = Field(description="The stored type; `embedding` is array<float> of length `dim`.")
    dim: int | None = Field(default=None, gt=0, le=65536, description="Vector length; only for dtype embedding.")
    expression: str | None = Field(
        default=None,
        description="Spark SQL expression over source columns (allow-listed); default: the column of the same name.",
    )
    aggregation: Aggregation | None = Field(default=None, description="Makes this a windowed aggregate.")
    default: Any = Field(default=None, description="Value served and joined when no row matches.")
    description: str = ""
    expectations: list[Expectation] = Field(
        default_factory=list,
        description="Data checks before publishing: not_null, unique, between, mean_between, in_set, regex.",
    )
    index: VectorIndex | None = Field(
        default=None, description="Similarity search over this embedding (online views only); see docs/similarity.md."
    )

    @field_validator("expression")
    @classmethod
    def _safe_expression(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_expression(value)
            except ExpressionNotAllowed as exc:
                raise ValueError(str(exc)) from None
        return value

    # Field validators (not one model validator) so a problem points at its own key's line.
    @field_validator("dim")
    @classmethod
    def _dim_only_for_embeddings(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("dtype", "embedding") != "embedding":
            raise ValueError("`dim` is only for dtype embedding")
        return value

    @field_validator("aggregation")
    @classmethod
    def _aggregation_fits_dtype(cls, value: Aggregation | None, info: ValidationInfo) -> Aggregation | None:
        if value is not None and "dtype" in info.data:
            _check_aggregation_dtype(value.function, info.data["dtype"])
        return value

    @field_validator("index")
    @classmethod
    def _index_only_for_embeddings(cls, value: VectorIndex | None, info: ValidationInfo) -> VectorIndex | None:
        if value is not None and info.data.get("dtype", "embedding") != "embedding":
            raise ValueError("`index` is only for dtype embedding: similarity search compares vectors")
        return value

    @field_validator("default")
    @classmethod
    def _default_fits_dtype(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and "dtype" in info.data:
            _check_default(value, info.data["dtype"], info.data.get("dim"))
        return value

    @model_validator(mode="after")
    def _embedding_has_dim(self) -> Feature:
        if self.dtype == "embedding" and self.dim is None:
            raise ValueError("dtype embedding needs `dim: N` (the vector length)")
        return self

    @property
    def source_expression(self) -> str | None:
        """What the feature reads per source row (None: count(*))."""
        if self.expression is not None:
            return self.expression
        if self.aggregation and self.aggregation.function == "count":
            return None
        return self.name


def _check_aggregation_dtype(function: str, dtype: str) -> None:
    if function == "count" and dtype != "int64":
        raise ValueError("count produces int64: set `dtype: int64`")
    if function == "avg" and dtype != "double":
        raise ValueError("avg produces double: set `dtype: double`")
    if function in {"sum", "min", "max"} and dtype not in {"int64", "double", "timestamp"}:
        raise ValueError(f"{function} needs a numeric dtype (int64 or double), not {dtype}")
    if dtype in {"embedding", "array<double>"} and function != "last":
        raise ValueError(f"{dtype} features can only use the `last` aggregation")


def _check_default(default: Any, dtype: str, dim: int | None) -> None:
    ok = {
        "int64": isinstance(default, int) and not isinstance(default, bool),
        "double": isinstance(default, int | float) and not isinstance(default, bool),
        "string": isinstance(default, str),
        "bool": isinstance(default, bool),
        "timestamp": False,
        "array<double>": isinstance(default, list) and all(isinstance(v, int | float) for v in default),
        "embedding": isinstance(default, list)
        and len(default) == dim
        and all(isinstance(v, int | float) for v in default),
    }[dtype]
    if not ok:
        hint = f" of length {dim}" if dtype == "embedding" else ""
        raise ValueError(f"default {default!r} does not fit dtype {dtype}{hint}")


class FeatureView(SpecModel):
    """A set of features of one entity, computed from one source, stored as one Delta table per version."""

    name: Name = Field(description="Lower snake case, unique in the repo.")
    version: int = Field(ge=1, description="Bump it when a feature's dtype, expression or aggregation changes.")
    entity: Name = Field(description="The entity the features describe (its join keys key the rows).")
    source: Name = Field(description="The source the features are computed from.")
    owner: str = Field(min_length=1, description="The owning team: DAG tag and alert routing.")
    description: str = ""
    timestamp: str | None = Field(default=None, description="Event time column; default: the source's `timestamp`.")
    ttl: Duration = Field(description="How old a feature row may be and still be joined or served (e.g. 30d).")
    freshness_sla: Duration | None = Field(default=None, description="Stale when the newest value is older than this.")
    schedule: str = Field(default="@daily", description="Airflow preset (@hourly, @daily, ...) or 5-field cron.")
    online: bool = Field(default=False, description="Materialize the newest values into Redis.")
    tags: list[str] = Field(default_factory=list)
    features: list[Feature] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if value not in SCHEDULE_PRESETS and not _CRON.match(value):
            raise ValueError(
                f"schedule {value!r} is neither a preset ({', '.join(sorted(SCHEDULE_PRESETS))}) "
                "nor a 5-field cron expression like '0 3 * * *'"
            )
        return value

    @field_validator("features")
    @classmethod
    def _indexes_need_online(cls, value: list[Feature], info: ValidationInfo) -> list[Feature]:
        indexed = [f.name for f in value if f.index is not None]
        if indexed and not info.data.get("online", False):
            raise ValueError(
                f"feature {indexed[0]!r} has an `index`, which is built when the view is materialized: "
                "set `online: true` on the view, or remove the index"
            )
        return value

    @model_validator(mode="after")
    def _features(self) -> FeatureView:
        aggregated = {f.aggregation is not None for f in self.features}
        if len(aggregated) > 1:
            raise ValueError(
                "mix of aggregated and row features: a view's features are either all "
                "aggregations (one row per entity per day) or all row expressions; split the view"
            )
        return self

    @property
    def is_aggregated(self) -> bool:
        return self.features[0].aggregation is not None


class Entity(SpecModel):
    """What features describe; its join keys are columns of sources and labels."""

    name: Name
    join_keys: list[Name] = Field(min_length=1, description="Key columns, e.g. [user_id].")
    description: str = ""


class Source(SpecModel):
    """Raw data features are computed from."""

    name: Name
    format: Literal["parquet", "delta", "csv"]
    path: str = Field(min_length=1, description="Relative to the lake root, or an absolute path / URI.")
    timestamp: str = Field(description="Event time column: when the row's facts became true.")
    created_timestamp: str | None = Field(
        default=None, description="When the row was written; breaks ties between rows of the same event time."
    )
    description: str = ""
    columns: dict[str, SourceColumnType] | None = Field(
        default=None, description="The source's schema (column: type), checked against expressions."
    )

    @field_validator("path")
    @classmethod
    def _inside_lake(cls, value: str) -> str:
        if "://" not in value and ".." in value.replace("\\", "/").split("/"):
            raise ValueError(f"path {value!r} must not climb out of the lake root with '..'; use an absolute path")
        return value


class FeatureService(SpecModel):
    """A named list of features (`--feature-service NAME`)."""

    name: Name
    description: str = ""
    features: list[str] = Field(min_length=1, description="`view:feature` refs, or `view` for all its features")


class SpecFile(SpecModel):
    """One YAML file of a feature repository."""

    model_config = ConfigDict(title="featurelake spec file", extra="forbid", frozen=True)

    entities: list[Entity] | None = None
    sources: list[Source] | None = None
    feature_view: FeatureView | None = None
    feature_services: list[FeatureService] | None = None
