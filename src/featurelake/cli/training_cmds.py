"""training-set: labels + point-in-time features -> parquet or delta, with metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featurelake.cli.common import ConfOption, app, out


@app.command("training-set")
def training_set_cmd(
    output: Annotated[str, typer.Option(help="Where to write the training set (a folder).")],
    labels: Annotated[str | None, typer.Option(help="Labels: parquet, delta or csv with join keys and a time.")] = None,
    features: Annotated[str | None, typer.Option(help="Comma-separated view:feature (or view) refs.")] = None,
    feature_service: Annotated[str | None, typer.Option(help="A feature service of the specs.")] = None,
    timestamp_column: Annotated[str, typer.Option(help="The labels' time column.")] = "event_timestamp",
    full_feature_names: Annotated[bool, typer.Option(help="Name columns view__feature.")] = False,
    output_format: Annotated[str, typer.Option("--format", help="parquet or delta.")] = "parquet",
    labels_format: Annotated[str | None, typer.Option(help="parquet, delta or csv (default: guessed).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    reproduce: Annotated[Path | None, typer.Option(help="Rebuild exactly from a training set's metadata JSON.")] = None,
    conf: ConfOption = None,
) -> None:
    """Build a training set with point-in-time correct features (Feast semantics)."""
    from featurelake.store import FeatureStore

    if output_format not in {"parquet", "delta"}:
        raise typer.BadParameter("use parquet or delta", param_hint="--format")
    store = FeatureStore(conf=conf)
    if reproduce:
        info = store.reproduce_training_set(reproduce, output, overwrite=overwrite)
    else:
        if not labels or not (features or feature_service):
            raise typer.BadParameter("give --labels and --features or --feature-service (or --reproduce)")
        refs = [r for r in (features or "").split(",") if r.strip()]
        info = store.build_training_set(labels, output, refs, feature_service, timestamp_column, full_feature_names,
                                        output_format, overwrite, labels_format)  # fmt: skip
    tables = ", ".join(f"{v} v{t['view_version']}@delta{t['delta_version']}" for v, t in info.tables.items())
    out.print(
        f"training set: {info.output_rows} rows ({info.label_rows} labels), {len(info.feature_refs)} features from "
        f"{tables} -> {output} in {info.timings_s['total']:.1f}s; metadata {output.rstrip('/')}.metadata.json"
    )
