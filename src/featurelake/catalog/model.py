"""The catalog's answers as typed models (they are the JSON endpoints' schemas) and the
pure functions that build them from the registry and what the lake records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from featurelake.catalog import records
from featurelake.orchestration.dags import DAG_PREFIX
from featurelake.registry.model import Registry
from featurelake.specs.models import Feature, FeatureView, duration_seconds
from featurelake.validation.records import gate_records


class ViewSummary(BaseModel):
    name: str
    version: int
    description: str
    owner: str
    entity: str
    tags: list[str]
    online: bool
    features: list[str]
    dtypes: list[str]
    matched: list[str] = []  # the features a search matched by name or description


class FeatureInfo(BaseModel):
    name: str
    dtype: str
    dim: int | None
    description: str
    expression: str | None
    aggregation: str | None  # "sum over 30d"
    default: Any
    expectations: list[str]
    index: str | None  # the similarity index's metric


class ViewDetail(ViewSummary):
    source: str
    ttl: str
    schedule: str
    freshness_sla: str | None
    spec: str | None  # "path:line" of the spec that declared it
    dag_id: str
    services: list[str]
    feature_details: list[FeatureInfo]


class Freshness(BaseModel):
    state: Literal["fresh", "stale", "no SLA", "never published"]
    newest_published_day: str | None
    newest_event: str | None
    measured_in: Literal["redis", "delta"]
    age_s: float | None
    sla_s: int | None
    last_materialization: str | None  # when the watermark last moved
    problem: str | None = None  # e.g. Redis unreachable: shown, never a failed page


class QualityRun(BaseModel):
    start: str
    end: str
    passed: bool
    published: bool
    rows: int
    checks: int | None
    failed: int | None
    warned: int | None
    data_docs: str
    recorded_at: str


class StatPoint(BaseModel):
    day: str
    rows: int
    null_rate: float
    mean: float | None
    min: Any
    max: Any
    stddev: float | None


class Quality(BaseModel):
    runs: list[QualityRun]
    statistics: dict[str, list[StatPoint]]


class HistoryEntry(BaseModel):
    version: int
    at: str
    operation: str
    rows_written: int | None
    days: list[str] | None


class Online(BaseModel):
    online: bool
    ttl: str
    keys_present: int | None
    keys_counted_fully: bool
    watermark_delta_version: int | None
    last_consistency: dict[str, Any] | None
    problem: str | None = None


class LineageNode(BaseModel):
    id: str
    kind: Literal["source", "view", "feature", "service", "dag", "training_set", "redis"]
    label: str


class Lineage(BaseModel):
    nodes: list[LineageNode]
    edges: list[tuple[str, str]]


def iso_us(micros: int | None) -> str | None:
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="seconds")


def summary(view: FeatureView, matched: list[str] | None = None) -> ViewSummary:
    return ViewSummary(
        name=view.name, version=view.version, description=view.description, owner=view.owner, entity=view.entity,
        tags=list(view.tags), online=view.online, features=[f.name for f in view.features],
        dtypes=sorted({f.dtype for f in view.features}), matched=matched or [],
    )  # fmt: skip


def feature_info(feature: Feature) -> FeatureInfo:
    aggregation = feature.aggregation
    return FeatureInfo(
        name=feature.name, dtype=feature.dtype, dim=feature.dim, description=feature.description,
        expression=feature.expression,
        aggregation=None if aggregation is None else f"{aggregation.function} over {aggregation.window}",
        default=feature.default, expectations=[_expectation(e) for e in feature.expectations],
        index=None if feature.index is None else feature.index.metric,
    )  # fmt: skip


def _expectation(expectation: Any) -> str:
    args = expectation.model_dump(exclude={"kind", "severity"}, exclude_none=True)
    text = expectation.kind + (f" {args}" if args else "")
    return text if expectation.blocking else f"{text} (warn)"


def services_of(registry: Registry, view: FeatureView) -> list[str]:
    """The feature services that use a feature of the view."""
    return sorted(name for name in registry.feature_services
                  if any(ref.view == view.name for ref in registry.service_refs(name)))  # fmt: skip


def detail(registry: Registry, view: FeatureView) -> ViewDetail:
    services = services_of(registry, view)
    return ViewDetail(
        **summary(view).model_dump(), source=view.source, ttl=view.ttl, schedule=view.schedule,
        freshness_sla=view.freshness_sla, spec=registry.origins.get(f"feature_view:{view.name}"),
        dag_id=f"{DAG_PREFIX}{view.name}", services=services, feature_details=[feature_info(f) for f in view.features],
    )  # fmt: skip


def quality(lake_root: str, view: FeatureView) -> Quality:
    runs = [
        QualityRun(start=r.start, end=r.end, passed=r.passed, published=r.published, rows=r.rows, checks=r.checks,
                   failed=r.failed, warned=r.warned, data_docs=r.data_docs, recorded_at=iso_us(r.recorded_at_us) or "")
        for r in gate_records(lake_root, view.name, view.version)
    ]  # fmt: skip
    statistics: dict[str, list[StatPoint]] = {f.name: [] for f in view.features}
    for day in records.stats_series(lake_root, view):
        for name, column in day.features.items():
            statistics.setdefault(name, []).append(StatPoint(
                day=day.day.isoformat(), rows=day.rows, null_rate=column.null_rate, mean=column.mean,
                min=column.min, max=column.max, stddev=column.stddev))  # fmt: skip
    return Quality(runs=runs, statistics=statistics)


def history(lake_root: str, view: FeatureView) -> list[HistoryEntry]:
    return [
        HistoryEntry(version=c.version, at=iso_us(c.timestamp_ms * 1000) or "", operation=c.operation,
                     rows_written=c.rows_written, days=list(c.days) if c.days else None)
        for c in records.delta_history(lake_root, view)
    ]  # fmt: skip


def freshness(view: FeatureView, newest_day: str | None, newest_us: int | None, moved_us: int | None,
              now_us: int, problem: str | None = None) -> Freshness:  # fmt: skip
    """Freshness as the monitor judges it: online views by what Redis serves, others by the
    newest published partition's newest event."""
    sla = duration_seconds(view.freshness_sla) if view.freshness_sla else None
    age = None if newest_us is None else (now_us - newest_us) / 1e6
    if newest_us is None:
        state: Literal["fresh", "stale", "no SLA", "never published"] = "never published"
    elif sla is None:
        state = "no SLA"
    else:
        state = "stale" if age is not None and age > sla else "fresh"
    return Freshness(state=state, newest_published_day=newest_day, newest_event=iso_us(newest_us),
                     measured_in="redis" if view.online else "delta", age_s=age, sla_s=sla,
                     last_materialization=iso_us(moved_us), problem=problem)  # fmt: skip


def lineage(registry: Registry, view: FeatureView, built: list[dict[str, Any]]) -> Lineage:
    """source -> view -> features -> services and training sets; view -> DAG; view -> Redis."""
    nodes = [LineageNode(id=f"source:{view.source}", kind="source", label=view.source),
             LineageNode(id=f"view:{view.name}", kind="view", label=f"{view.name} v{view.version}"),
             LineageNode(id="dag", kind="dag", label=f"{DAG_PREFIX}{view.name}")]  # fmt: skip
    edges = [(f"source:{view.source}", f"view:{view.name}"), (f"view:{view.name}", "dag")]
    for feature in view.features:
        nodes.append(LineageNode(id=f"feature:{feature.name}", kind="feature", label=feature.name))
        edges.append((f"view:{view.name}", f"feature:{feature.name}"))
    for name in services_of(registry, view):
        nodes.append(LineageNode(id=f"service:{name}", kind="service", label=name))
        for ref in registry.service_refs(name):
            if ref.view == view.name:
                edges.append((f"feature:{ref.feature}", f"service:{name}"))
    for number, meta in enumerate(m for m in built if view.name in m.get("view_versions", {})):
        node = f"training_set:{number}"
        nodes.append(LineageNode(id=node, kind="training_set", label=str(meta.get("output", "?"))))
        for ref in meta.get("feature_refs", []):
            if ref.startswith(f"{view.name}:"):
                edges.append((f"feature:{ref.split(':', 1)[1]}", node))
    if view.online:
        nodes.append(LineageNode(id="redis", kind="redis", label="Redis (online)"))
        edges.append(("dag", "redis"))
    return Lineage(nodes=nodes, edges=sorted(set(edges), key=edges.index))
