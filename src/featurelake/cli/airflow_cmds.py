"""airflow: start Airflow 3 on 127.0.0.1 with this project's DAGs and conf (`make airflow`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from featurelake.cli.common import ConfOption, app, out, stopped_by_sigterm
from featurelake.config import load_config

if TYPE_CHECKING:
    from featurelake.orchestration.services import AirflowServices


@app.command("airflow")
def airflow_cmd(
    port: Annotated[int, typer.Option(help="Port of the Airflow UI/API on 127.0.0.1.")] = 8080,
    dags: Annotated[Path, typer.Option("--dags", help="The DAGs folder.")] = Path("dags"),
    conf: ConfOption = None,
) -> None:
    """Run Airflow's api-server, scheduler, dag-processor and triggerer until Ctrl-C."""
    from featurelake.online.redis_server import ensure_redis
    from featurelake.orchestration.services import airflow_services

    config = load_config(conf)
    ensure_redis(config, say=out.print).close()
    services = airflow_services(config, dags, port)
    out.print(f"starting Airflow 3 (home {services.env['AIRFLOW_HOME']}, DAGs from {dags.resolve()}) ...")
    passwords = Path(services.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    try:  # Ctrl-C (or SIGTERM) at any point, even while starting, stops every component
        with stopped_by_sigterm():
            _run_until_stopped(services, passwords)
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()


def _run_until_stopped(services: AirflowServices, passwords: Path) -> None:
    services.start()
    out.print(
        f"Airflow UI: {services.url}  (user admin; password in {passwords})\n"
        f"DAGs appear as featurelake__<view> once the registry is applied (`featurelake apply`); "
        f"logs in {services.logs}. Ctrl-C stops every component."
    )
    while all(p.poll() is None for p in services.processes.values()):
        time.sleep(1)
    out.print("an Airflow component exited; stopping the others (see its log)")
