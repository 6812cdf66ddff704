"""materialize and get-online: the Redis online store from a shell."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from featurelake.cli.common import ConfOption, app, out, serve_until_interrupted, view_job
from featurelake.config import load_config
from featurelake.errors import FeaturelakeError


class EntityArgumentError(FeaturelakeError):
    template = "--entity {value!r} is not KEY=VALUE (e.g. --entity user_id=42)"


@app.command("materialize")
def materialize_cmd(
    view: str,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild from the latest row per entity of the whole table.")
    ] = False,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Delete the view's online values first, then rebuild (implies --full)."),
    ] = False,
    conf: ConfOption = None,
) -> None:
    """Write the newest row per entity of an online view into Redis (incremental: days changed since the watermark)."""
    from featurelake.online.materialize import materialize_view

    config, registry, spark = view_job(conf, view, "materialize")
    result = materialize_view(spark, config, registry, view, full=full, reset=reset)
    scope = (
        f"full, from the {result.source}"
        if result.full
        else f"days {', '.join(f'{a}..{b}' for a, b in result.days or []) or 'none (up to date)'}"
    )
    out.print(
        f"{view}: {scope}; {result.entities:,} entities, {result.written:,} values written "
        f"({result.seconds:.1f}s, Delta version {result.delta_version})"
    )


def _entity_value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


@app.command("get-online")
def get_online_cmd(
    features: Annotated[str, typer.Option(help="Comma-separated view:feature (or view) refs.")],
    entity: Annotated[list[str], typer.Option(help="KEY=VALUE; repeat for composite keys.")],
    conf: ConfOption = None,
) -> None:
    """Read features of one entity from Redis, as JSON (embeddings as lists)."""
    from featurelake.store import FeatureStore

    row = {}
    for item in entity:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EntityArgumentError(value=item)
        row[key] = _entity_value(value)
    store = FeatureStore(conf=load_config(conf))
    result = store.get_online_features([f for f in features.split(",") if f], [row]).to_dict()
    plain = {
        name: (values[0].tolist() if hasattr(values[0], "tolist") else values[0]) for name, values in result.items()
    }
    out.print_json(json.dumps(plain))


@app.command("consistency")
def consistency_cmd(
    view: str,
    sample: Annotated[int, typer.Option(help="Entities to compare (0: all).")] = 1000,
    conf: ConfOption = None,
) -> None:
    """Compare Redis with the newest Delta rows of a view (exit 1 and the differences when they differ)."""
    from featurelake.online.consistency import InconsistentOnlineStoreError, check_consistency

    config, registry, spark = view_job(conf, view, "consistency")
    report = check_consistency(spark, config, registry, view, sample or None)
    if not report.consistent:
        raise InconsistentOnlineStoreError(summary=report.summary(), view=view)
    out.print(report.summary())


@app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 6566,
    conf: ConfOption = None,
) -> None:
    """Serve online features over HTTP on 127.0.0.1 (JSON; OpenAPI at /openapi.json) until Ctrl-C."""
    from featurelake.online.server import feature_server
    from featurelake.store import FeatureStore

    store = FeatureStore(conf=load_config(conf))
    server = feature_server(store.online, store.registry, port)
    out.print(f"serving online features at http://127.0.0.1:{server.server_address[1]}/get-online-features "
              f"(OpenAPI: /openapi.json; Ctrl-C stops)")  # fmt: skip
    serve_until_interrupted(server)
