"""materialize and get-online: the Redis online store from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from featurelake.cli.common import ConfOption, app, out, view_job
from featurelake.config import load_config
from featurelake.errors import FeaturelakeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
    from featurelake.registry import load_registry
    from featurelake.spark.session import build_spark_session

    config = load_config(conf)
    registry = load_registry(config)
    registry.view(view)  # an unknown view fails before anything starts

    def spark() -> SparkSession:  # only when the run needs it: see online.from_latest
        return build_spark_session(config, app_name=f"featurelake-materialize-{view}")

    result = materialize_view(spark, config, registry, view, full=full, reset=reset)
    scope = (
        f"full, from the {result.source}"
        if result.full
        else f"days {', '.join(f'{a}..{b}' for a, b in result.days or []) or 'none (up to date)'}"
    )
    engine = "" if result.spark else ", no Spark"
    out.print(
        f"{view}: {scope}{engine}; {result.entities:,} entities, {result.written:,} values written "
        f"({result.seconds:.1f}s, Delta version {result.delta_version})"
    )
    for index in result.indexes:
        recall = index.recall_check.get("recall", 1.0)
        out.print(f"  similarity index {index.ref}: {index.index_id}, {index.entities:,} entities, "
                  f"recall@10 self-check {recall:.3f} ({index.build_seconds:.1f}s)")  # fmt: skip


def _entity_value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def entity_row(items: list[str]) -> dict[str, Any]:
    """`--entity user_id=42 --entity region=eu` -> {"user_id": 42, "region": "eu"}."""
    row = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EntityArgumentError(value=item)
        row[key] = _entity_value(value)
    return row


@app.command("get-online")
def get_online_cmd(
    features: Annotated[str, typer.Option(help="Comma-separated view:feature (or view) refs.")],
    entity: Annotated[list[str], typer.Option(help="KEY=VALUE; repeat for composite keys.")],
    conf: ConfOption = None,
) -> None:
    """Read features of one entity from Redis, as JSON (embeddings as lists)."""
    from featurelake.store import FeatureStore

    row = entity_row(entity)
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
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs TLS and tokens.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 6566,
    workers: Annotated[int, typer.Option(help="Worker processes (about one per core).")] = 1,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="Accepted bearer tokens, one per line (also FEATURELAKE_SERVE_TOKENS).")
    ] = None,
    max_entities: Annotated[int, typer.Option(help="Entities per request (more: 400).")] = 1000,
    max_body_bytes: Annotated[int, typer.Option(help="Request body size (more: 413).")] = 1 << 20,
    timeout_s: Annotated[float, typer.Option(help="Redis must answer within this (else 503).")] = 1.0,
    registry_refresh_s: Annotated[float, typer.Option(help="How often to look for a newly applied registry.")] = 10.0,
    access_log: Annotated[bool, typer.Option(help="JSON access lines on stderr (never headers or tokens).")] = True,
    conf: ConfOption = None,
) -> None:
    """Serve online features over HTTP(S) until SIGTERM / Ctrl-C (OpenAPI at /openapi.json, metrics at /metrics)."""
    from featurelake.serving.run import run_server
    from featurelake.serving.settings import ServeSettings

    settings = ServeSettings(
        host=host, port=port, workers=workers, conf=str(conf) if conf else None,
        tls_cert=str(tls_cert) if tls_cert else None, tls_key=str(tls_key) if tls_key else None,
        token_file=str(token_file) if token_file else None, max_entities=max_entities,
        max_body_bytes=max_body_bytes, timeout_s=timeout_s, registry_refresh_s=registry_refresh_s,
        access_log=access_log,
    )  # fmt: skip
    scheme = "https" if settings.tls else "http"
    started = (f"serving online features at {scheme}://{host}:{port}/get-online-features with {workers} worker(s) "
               f"(OpenAPI: /openapi.json; Ctrl-C stops)")  # fmt: skip
    run_server(settings, say=lambda: out.print(started))
