"""What `apply` would change, and which changes need a version bump first.

A view version is a promise to its readers (training sets, Redis keys): once applied,
changing a feature's dtype, dim, expression or aggregation, removing a feature, or
changing the view's entity, source or timestamp needs a new `version`. Adding a feature,
or changing metadata (ttl, owner, description, tags, schedule, online, expectations), does
not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from featurelake.registry.model import Registry, meaning
from featurelake.specs.loader import SpecProblem

Action = Literal["add", "remove", "change"]
_META_FIELDS = ("owner", "description", "ttl", "freshness_sla", "schedule", "online", "tags")


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        sign = {"add": "+", "remove": "-", "change": "~"}[self.action]
        return f"{sign} {self.kind} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)

    @property
    def removed_views(self) -> list[str]:
        return [c.name for c in self.changes if c.kind == "feature_view" and c.action == "remove"]


def _where(registry: Registry, key: str) -> tuple[str, int]:
    path, _, line = registry.origins.get(key, "?:1").rpartition(":")
    return path, int(line) if line.isdigit() else 1


def _diff_named(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = [Change("add", kind, name) for name in sorted(new.keys() - old.keys())]
    changes += [Change("remove", kind, name) for name in sorted(old.keys() - new.keys())]
    changes += [
        Change("change", kind, name)
        for name in sorted(old.keys() & new.keys())
        if old[name].model_dump(mode="json") != new[name].model_dump(mode="json")
    ]
    return changes


def _view_changes(name: str, old: Registry, new: Registry, plan: Plan) -> None:
    before, after = old.views[name], new.views[name]
    if after.version < before.version:
        path, line = _where(new, f"feature_view:{name}")
        plan.problems.append(
            SpecProblem(
                path,
                line,
                f"version of {name} went back from {before.version} to {after.version}; "
                f"use {before.version + 1} or higher",
            )
        )
        return
    if after.version > before.version:
        plan.changes.append(
            Change("change", "feature_view", name, f"new version v{before.version} -> v{after.version}")
        )
        return
    was, now = meaning(before), meaning(after)
    breaking = []
    for key in ("entity", "source", "timestamp"):
        if was[key] != now[key]:
            breaking.append((f"feature_view:{name}", f"{key} changes {was[key]!r} -> {now[key]!r}"))
    for feature, spec in was["features"].items():
        if feature not in now["features"]:
            breaking.append((f"feature_view:{name}", f"feature {feature!r} is removed"))
            continue
        for key, value in spec.items():
            if now["features"][feature][key] != value:
                what = f"feature {feature!r} changes {key} {value!r} -> {now['features'][feature][key]!r}"
                breaking.append((f"feature:{name}.{feature}", what))
    for origin, what in breaking:
        path, line = _where(new, origin)
        plan.problems.append(
            SpecProblem(
                path,
                line,
                f"{what} in applied {name} v{before.version}; bump `version` to "
                f"{before.version + 1} so training sets and online keys of v{before.version} stay valid",
            )
        )
    for feature in sorted(now["features"].keys() - was["features"].keys()):
        plan.changes.append(Change("add", "feature", f"{name}:{feature}", "backfill to fill its history"))
    for key in _META_FIELDS:
        if getattr(before, key) != getattr(after, key):
            plan.changes.append(
                Change(
                    "change",
                    "feature_view",
                    name,
                    f"{key} {getattr(before, key)!r} -> {getattr(after, key)!r}",
                )
            )
    # Everything else a feature says (expectations, a similarity index, its description):
    # applied without a bump, but applied: a plan that missed them left the lake's registry
    # without an index the specs declared.
    was_features = {f.name: f.model_dump(mode="json") for f in before.features}
    for feature in after.features:
        if feature.name not in was_features:
            continue
        old_fields, new_fields = was_features[feature.name], feature.model_dump(mode="json")
        changed = sorted(k for k in new_fields.keys() | old_fields.keys() if old_fields.get(k) != new_fields.get(k))
        if changed:
            plan.changes.append(Change("change", "feature", f"{name}:{feature.name}", ", ".join(changed)))


def make_plan(old: Registry | None, new: Registry) -> Plan:
    """Compare the applied registry with the compiled specs."""
    plan = Plan()
    old = old or Registry(project=new.project)
    plan.changes += _diff_named("entity", old.entities, new.entities)
    plan.changes += _diff_named("source", old.sources, new.sources)
    for name in sorted(new.views.keys() - old.views.keys()):
        plan.changes.append(Change("add", "feature_view", name, f"v{new.views[name].version}"))
    for name in sorted(old.views.keys() - new.views.keys()):
        plan.changes.append(Change("remove", "feature_view", name, f"v{old.views[name].version}"))
    for name in sorted(old.views.keys() & new.views.keys()):
        _view_changes(name, old, new, plan)
    plan.changes += _diff_named("feature_service", old.feature_services, new.feature_services)
    return plan
