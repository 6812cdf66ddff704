"""Online reads: any number of features, views and entities in one MGET (one round trip).

The per-view work (prefixes, codecs, feature positions, defaults) is prepared once per
request plan and cached, so a read costs one MGET plus msgpack decoding of what came back.
Values older than their freshness SLA are still returned (stale data is what freshness
checks report); a missing or expired key gives the feature's default (0 for counts and
sums, as in training sets), else None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurelake.errors import FeaturelakeError
from featurelake.offline.as_of_join import default_value
from featurelake.online.codec import ViewCodec
from featurelake.online.keys import entity_key, view_prefix
from featurelake.registry.model import FeatureRef, Registry

if TYPE_CHECKING:
    import pandas as pd
    import redis


class EntityKeyMissingError(FeaturelakeError):
    template = "entity row {row} has no {key!r}: view {view} needs its join keys {keys}"


@dataclass(frozen=True)
class _ViewPlan:
    view: str
    prefix: str
    keys: tuple[str, ...]
    codec: ViewCodec
    picks: tuple[tuple[int, str, Any], ...]  # (position in payload, output name, default)


class OnlineFeatures:
    """Feast-like result: `to_dict()` gives {column: [value per entity row]}."""

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        self._columns = columns

    def to_dict(self) -> dict[str, list[Any]]:
        return self._columns

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self._columns)


class OnlineReader:
    def __init__(self, client: redis.Redis, registry: Registry) -> None:
        self.client = client
        self.registry = registry
        self._plans = ReadPlans(registry)

    def get(
        self, refs: Sequence[FeatureRef], entity_rows: Sequence[dict[str, Any]], full_feature_names: bool = False
    ) -> OnlineFeatures:
        plans = self._plans.get(refs, full_feature_names)
        keys = redis_keys(plans, entity_rows)
        values: list[bytes | None] = self.client.mget(keys) if keys else []  # type: ignore[assignment]
        return OnlineFeatures(assemble(plans, entity_rows, values))


class ReadPlans:
    """Per-(features, naming) read plans of one registry, built once and cached; shared by the
    Python API and the feature server, so both read and decode exactly alike.

    At most MAX_PLANS are kept: a server's clients choose the feature lists, and every order
    of them is a new key, so an unbounded cache would be theirs to grow.
    """

    MAX_PLANS = 1024

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._plans: dict[tuple[tuple[FeatureRef, ...], bool], tuple[_ViewPlan, ...]] = {}

    def get(self, refs: Sequence[FeatureRef], full_feature_names: bool) -> tuple[_ViewPlan, ...]:
        plan_key = (tuple(refs), full_feature_names)
        plans = self._plans.get(plan_key)
        if plans is None:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            plans = self._plans[plan_key] = _plan(self.registry, *plan_key)
        return plans

    def __len__(self) -> int:
        return len(self._plans)


def redis_keys(plans: Sequence[_ViewPlan], entity_rows: Sequence[dict[str, Any]]) -> list[str]:
    """The keys of one MGET: every view's key of every entity row, view by view."""
    return [entity_key(plan.prefix, _key_values(row, plan)) for plan in plans for row in entity_rows]


def assemble(
    plans: Sequence[_ViewPlan], entity_rows: Sequence[dict[str, Any]], values: Sequence[bytes | None]
) -> dict[str, list[Any]]:
    """The MGET's answer (in `redis_keys` order) -> {column: [value per entity row]}."""
    columns: dict[str, list[Any]] = {}
    for name in _entity_columns(plans):
        columns[name] = [row.get(name) for row in entity_rows]
    n = len(entity_rows)
    for p, plan in enumerate(plans):
        decoded = [plan.codec.decode(v) if v is not None else None for v in values[p * n : (p + 1) * n]]
        for position, name, default in plan.picks:
            columns[name] = [d[position] if d is not None and d[position] is not None else default for d in decoded]
    return columns


def _key_values(row: dict[str, Any], plan: _ViewPlan) -> list[Any]:
    try:
        return [row[k] for k in plan.keys]
    except KeyError as exc:
        raise EntityKeyMissingError(row=row, key=exc.args[0], view=plan.view, keys=list(plan.keys)) from None


def _entity_columns(plans: Sequence[_ViewPlan]) -> list[str]:
    return list(dict.fromkeys(k for plan in plans for k in plan.keys))


def _plan(registry: Registry, refs: tuple[FeatureRef, ...], full_names: bool) -> tuple[_ViewPlan, ...]:
    by_view: dict[str, list[FeatureRef]] = {}
    for ref in refs:
        by_view.setdefault(ref.view, []).append(ref)
    plans = []
    for name, view_refs in by_view.items():
        view = registry.view(name)
        position = {f.name: i for i, f in enumerate(view.features)}
        defaults = {f.name: default_value(f) for f in view.features}
        picks = tuple(
            (position[r.feature], f"{name}__{r.feature}" if full_names else r.feature, defaults[r.feature])
            for r in view_refs
        )
        codec = ViewCodec.for_view(view)
        plans.append(_ViewPlan(name, view_prefix(registry.project, name, view.version),
                               tuple(registry.join_keys(name)), codec, picks))  # fmt: skip
    return tuple(plans)
