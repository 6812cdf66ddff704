"""ui: the feature catalog on 127.0.0.1, for people without Airflow running."""

from __future__ import annotations

from typing import Annotated

import typer

from featurelake.cli.common import ConfOption, app, out
from featurelake.config import load_config


@app.command("ui")
def ui_cmd(
    conf: ConfOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8070,
) -> None:
    """Serve the feature catalog (search, lineage, freshness, quality, history, online) on
    127.0.0.1 until Ctrl-C. Inside Airflow it is the "Features" page, behind Airflow's login;
    alone it has no login, so it only listens on loopback."""
    import uvicorn

    from featurelake.catalog import create_app

    config = load_config(conf)
    out.print(f"feature catalog of {config.lake_root} on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(config), host="127.0.0.1", port=port, log_level="warning")
