"""validate-data, reports and setup-assets: the validation gate from a shell."""

from __future__ import annotations

from typing import Annotated

import typer

from featurelake.cli.common import ConfOption, app, out, serve_until_interrupted, view_job
from featurelake.cli.compute_cmds import DayOption
from featurelake.config import load_config


@app.command("validate-data")
def validate_data_cmd(view: str, start: DayOption, end: DayOption, conf: ConfOption = None) -> None:
    """Validate published days START..END of a view on demand (exit 1 when a blocking check fails)."""
    from featurelake.compute.backfill import parse_day
    from featurelake.validation.context import ValidationPaths
    from featurelake.validation.errors import PublishedDataFailedError
    from featurelake.validation.published import validate_published

    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    config, registry, spark = view_job(conf, view, "validate")
    outcome = validate_published(spark, registry, view, first, last, ValidationPaths.from_config(config))
    if not outcome.passed:
        raise PublishedDataFailedError(summary=outcome.summary(), view=view)
    out.print(outcome.summary())


@app.command("reports")
def reports_cmd(
    conf: ConfOption = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the reports on 127.0.0.1 until Ctrl-C.")] = False,
    port: Annotated[int, typer.Option(help="Port for --serve (0: any free port).")] = 8765,
) -> None:
    """Print where the Data Docs reports are, or serve them on 127.0.0.1."""
    from featurelake.storage import storage_for
    from featurelake.validation.context import ValidationPaths
    from featurelake.validation.reports import ReportsMissingError, reports_server

    paths = ValidationPaths.from_config(load_config(conf))
    index = paths.data_docs_index
    if not storage_for(index).exists(index):
        raise ReportsMissingError(index=index)
    if not serve:
        out.print(f"Data Docs: {index}")
        return
    # An object-store reports dir is served from this machine's mirror of it (the runs it validated).
    folder = paths.local_reports_dir
    server = reports_server(folder, port)
    out.print(f"serving Data Docs from {folder} at http://127.0.0.1:{server.server_address[1]}/index.html "
              "(Ctrl-C stops)")  # fmt: skip
    serve_until_interrupted(server)


@app.command("setup-assets")
def setup_assets_cmd(conf: ConfOption = None) -> None:
    """Fetch the web assets Data Docs pages load (from npm, once) so reports work offline."""
    from featurelake.validation.assets import fetch_web_assets

    config = load_config(conf)
    out.print(f"Data Docs web assets in {fetch_web_assets(config.web_assets_dir)}")
