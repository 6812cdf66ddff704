"""backfill and run: compute feature views into their Delta tables."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from featurelake.cli.common import ConfOption, app, out, view_job

DayOption = Annotated[str, typer.Option(help="A day, YYYY-MM-DD (UTC).")]


def _compute(view: str, start: date, end: date, conf: ConfOption) -> None:
    from featurelake.compute.backfill import backfill_view
    from featurelake.validation.context import ValidationPaths

    config, registry, spark = view_job(conf, view, "compute")
    paths = ValidationPaths.from_config(config)
    result = backfill_view(spark, registry, view, config.lake_root, start, end, show_progress=True, validation=paths,
                           lease=config.lease)  # fmt: skip
    out.print(result.validation.summary())
    out.print(
        f"{result.view} v{result.view_version}: {result.days} day(s) {result.start}..{result.end}, "
        f"{result.source_events} source events -> {result.rows_written} rows in {result.table} "
        f"(Delta version {result.delta_version}, {result.seconds:.1f}s)"
    )


@app.command("backfill")
def backfill_cmd(view: str, start: DayOption, end: DayOption, conf: ConfOption = None) -> None:
    """Compute days START..END (inclusive) of a view and replace them in its Delta table."""
    from featurelake.compute.backfill import parse_day

    _compute(view, parse_day(start, "--start"), parse_day(end, "--end"), conf)


@app.command("run")
def run_cmd(view: str, date: DayOption, conf: ConfOption = None) -> None:
    """Compute one day of a view (what Airflow runs per data interval)."""
    from featurelake.compute.backfill import parse_day

    day = parse_day(date, "--date")
    _compute(view, day, day, conf)
