"""validate, plan, apply, list, describe, search, schema: the spec and registry commands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from featurelake.cli.common import DEFAULT_REPO, ConfOption, RepoOption, app, optional_config, out
from featurelake.config import load_config
from featurelake.registry import PlannedApply, apply_specs, compile_specs, load_registry, plan_specs
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView, SpecFile


@app.command("validate")
def validate_cmd(repo: RepoOption = DEFAULT_REPO, conf: ConfOption = None) -> None:
    """Check every spec of the repo (all problems at once, as path:line: message)."""
    started = time.perf_counter()
    registry = compile_specs(repo, optional_config(conf))
    features = sum(len(v.features) for v in registry.views.values())
    out.print(
        f"ok: {len(registry.views)} feature views, {features} features, {len(registry.entities)} entities, "
        f"{len(registry.sources)} sources, {len(registry.feature_services)} feature services "
        f"({time.perf_counter() - started:.2f}s)"
    )


def _print_changes(planned: PlannedApply, summary: str | None) -> None:
    """The changes and a summary line; `summary=None` means there was nothing to do."""
    if summary is None:
        out.print(f"no changes (registry version {planned.current_version} is current)")
        return
    for change in planned.plan.changes:
        out.print(str(change))
    out.print(summary)


@app.command("plan")
def plan_cmd(repo: RepoOption = DEFAULT_REPO, conf: ConfOption = None) -> None:
    """Show what `apply` would change in the registry."""
    planned = plan_specs(repo, load_config(conf))
    changes = len(planned.plan.changes)
    _print_changes(planned, f"{changes} change(s); `featurelake apply` makes them live" if changes else None)


@app.command("apply")
def apply_cmd(
    repo: RepoOption = DEFAULT_REPO,
    conf: ConfOption = None,
    allow_destroy: Annotated[bool, typer.Option("--allow-destroy", help="Allow removing feature views.")] = False,
) -> None:
    """Compile the specs into a new registry version and make it live (atomically)."""
    planned, version = apply_specs(repo, load_config(conf), allow_destroy=allow_destroy)
    _print_changes(planned, None if version is None else f"applied registry version {version}")


@app.command("list")
def list_cmd(conf: ConfOption = None) -> None:
    """List the applied feature views."""
    registry = load_registry(load_config(conf))
    table = Table("view", "version", "entity", "owner", "online", "features", "tags")
    for view in registry.views.values():
        table.add_row(view.name, str(view.version), view.entity, view.owner, "yes" if view.online else "no",
                      str(len(view.features)), ", ".join(view.tags))  # fmt: skip
    out.print(table)


def _view_summary(view: FeatureView, registry: Registry) -> None:
    source = registry.sources[view.source]
    out.print(
        f"{view.name} v{view.version}  (owner {view.owner})  {registry.origins.get('feature_view:' + view.name, '')}"
    )
    if view.description:
        out.print(view.description)
    out.print(
        f"entity {view.entity} (keys {', '.join(registry.join_keys(view.name))}); source {source.name} "
        f"({source.format} {source.path}, time {registry.timestamp_column(view.name)}); ttl {view.ttl}; "
        f"freshness_sla {view.freshness_sla or '-'}; schedule {view.schedule}; online {view.online}"
    )


@app.command("describe")
def describe_cmd(view: str, conf: ConfOption = None) -> None:
    """Show one applied feature view: where it comes from and each feature."""
    registry = load_registry(load_config(conf))
    spec = registry.view(view)
    _view_summary(spec, registry)
    table = Table("feature", "dtype", "computed as", "default", "expectations", "description")
    for f in spec.features:
        how = f.source_expression or "*"
        if f.aggregation:
            how = f"{f.aggregation.function}({how}) over {f.aggregation.window}"
        dtype = f"{f.dtype}[{f.dim}]" if f.dim else f.dtype
        checks = ", ".join(e.kind + ("(warn)" if e.severity == "warn" else "") for e in f.expectations)
        table.add_row(
            f.name,
            dtype,
            how,
            "" if f.default is None else json.dumps(f.default),
            checks,
            f.description,
        )
    out.print(table)


@app.command("search")
def search_cmd(text: str, conf: ConfOption = None) -> None:
    """Find features by name, description, owner or tag."""
    registry = load_registry(load_config(conf))
    needle = text.lower()
    table = Table("feature", "dtype", "owner", "description")
    for view in registry.views.values():
        view_text = " ".join([view.name, view.description, view.owner, *view.tags]).lower()
        for f in view.features:
            if needle in view_text or needle in f"{f.name} {f.description}".lower():
                table.add_row(f"{view.name}:{f.name}", f.dtype, view.owner, f.description or view.description)
    if not table.row_count:
        out.print(f"nothing matches {text!r}")
        raise typer.Exit(1)
    out.print(table)


def spec_json_schema() -> dict[str, object]:
    schema = SpecFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@app.command("schema")
def schema_cmd(
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead of stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json (JSON Schema) or markdown (the reference).")] = "json",
) -> None:
    """Print the JSON Schema of spec files (for editors), or the spec reference in Markdown."""
    if fmt not in {"json", "markdown"}:
        raise typer.BadParameter("use json or markdown", param_hint="--format")
    if fmt == "markdown":
        from featurelake.specs.reference import render_reference

        text = render_reference()
    else:
        text = json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)
