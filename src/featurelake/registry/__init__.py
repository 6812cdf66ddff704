"""Compiled, versioned registry: compile specs, plan, apply, read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError
from featurelake.registry.compile import compile_repo
from featurelake.registry.model import Registry
from featurelake.registry.plan import Plan, make_plan
from featurelake.registry.store import RegistryStore
from featurelake.specs.loader import SpecValidationError
from featurelake.specs.source_schema import source_columns

__all__ = [
    "Registry",
    "RegistryStore",
    "apply_specs",
    "compile_specs",
    "load_registry",
    "plan_specs",
]


class DestroyNotAllowedError(FeaturelakeError):
    template = (
        "apply would remove feature view(s) {views}; their tables and online keys stop being "
        "managed. Pass --allow-destroy if that is meant"
    )


class NothingAppliedError(FeaturelakeError):
    template = "no registry has been applied under {path} yet; run `featurelake apply` first"


def compile_specs(repo: Path, conf: FeaturelakeConfig | None) -> Registry:
    """Compile `repo`; with a config, columns are also checked against local source data."""
    project = conf.project if conf else "featurelake"
    resolver = (lambda source: source_columns(source, conf.lake_root)) if conf else None
    return compile_repo(repo, project, resolver)


@dataclass(frozen=True)
class PlannedApply:
    plan: Plan
    registry: Registry
    current_version: int | None


def plan_specs(repo: Path, conf: FeaturelakeConfig) -> PlannedApply:
    """Compile and diff against the applied registry; version-bump problems raise."""
    registry = compile_specs(repo, conf)
    store = RegistryStore(conf.lake_root)
    current = store.current_version()
    plan = make_plan(store.load(current), registry)
    if plan.problems:
        raise SpecValidationError(repo, plan.problems)
    return PlannedApply(plan=plan, registry=registry, current_version=current)


def apply_specs(repo: Path, conf: FeaturelakeConfig, allow_destroy: bool = False) -> tuple[PlannedApply, int | None]:
    """Apply the specs; returns the plan and the new registry version (None: no change)."""
    planned = plan_specs(repo, conf)
    if planned.plan.removed_views and not allow_destroy:
        raise DestroyNotAllowedError(views=", ".join(planned.plan.removed_views))
    if not planned.plan.changes:
        return planned, None
    version = RegistryStore(conf.lake_root).apply(planned.registry, planned.current_version)
    return planned, version


def load_registry(conf: FeaturelakeConfig, version: int | None = None) -> Registry:
    store = RegistryStore(conf.lake_root)
    registry = store.load(version)
    if registry is None:
        raise NothingAppliedError(path=store.root)
    return registry
