"""Entry point of the `featurelake` console script.

Exit codes: 0 ok, 1 invalid input or a failed check (a typed FeaturelakeError),
2 usage error (unknown command or option).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from featurelake import __version__
from featurelake.cli import (  # noqa: F401  (they register commands)
    airflow_cmds,
    catalog_cmds,
    cluster_cmds,
    compute_cmds,
    monitoring_cmds,
    online_cmds,
    similarity_cmds,
    specs_cmds,
    training_cmds,
    validation_cmds,
)
from featurelake.cli.common import ConfOption, app, err_console, out
from featurelake.config import describe_config, load_config
from featurelake.errors import FeaturelakeError
from featurelake.spark.session import session_log_file


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"featurelake {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """featurelake: declare features in YAML, compute them with Spark, serve them from Redis."""


@app.command("config")
def config_cmd(conf: ConfOption = None) -> None:
    """Show the resolved configuration (secrets redacted)."""
    out.print_json(json.dumps(describe_config(load_config(conf))))


@app.command("redis")
def redis_cmd(
    conf: ConfOption = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the embedded redis-server.")] = False,
) -> None:
    """Make sure the configured Redis answers (starting the embedded one if configured)."""
    from featurelake.online.redis_server import embedded_server_for, ensure_redis

    config = load_config(conf)
    if stop:
        embedded_server_for(config).stop()
        out.print("embedded redis-server stopped")
        return
    client = ensure_redis(config, say=out.print)
    out.print(f"redis at {config.redis.redacted_url()} answers (version {client.info()['redis_version']})")


@app.command("setup-jars")
def setup_jars_cmd(conf: ConfOption = None) -> None:
    """Fetch Delta's and s3a's jars from Maven Central once, write spark-defaults for
    spark-submit, and build the driver's class-data-sharing archive and, on a machine with a
    JDK 25, the local driver's AOT cache (when out of date)."""
    from featurelake.spark.cds import (
        CdsArchiveError,
        aot_cache_is_current,
        aot_jdk,
        archive_is_current,
        build_aot_cache,
        build_archive,
    )
    from featurelake.spark.jars import fetch_delta_jars
    from featurelake.spark.object_store import fetch_s3_jars
    from featurelake.spark.session import install_spark_defaults

    config = load_config(conf)
    jars = fetch_delta_jars(config.spark.jars_dir)
    s3 = fetch_s3_jars(config.spark.jars_dir)
    target = install_spark_defaults(config)
    out.print(f"{len(jars)} Delta jars and {len(s3)} s3a jars in {config.spark.jars_dir}; "
              f"spark-submit defaults in {target}")  # fmt: skip
    if not archive_is_current(config):
        out.print("building the Spark driver's class-data-sharing archive (once, about 40 s)")
        try:
            out.print(f"driver class-data-sharing archive: {build_archive(config.source_file)}")
        except CdsArchiveError as exc:  # an optimisation: setup goes on without it
            out.print(f"warning: {exc}")
    jdk = aot_jdk() if config.spark.aot_cache else None
    if jdk is not None and not aot_cache_is_current(config, jdk):
        out.print(f"building the local driver's AOT cache on the JDK in {jdk} (once, about a minute)")
        try:
            out.print(f"local driver AOT cache: {build_aot_cache(config.source_file, jdk)}")
        except CdsArchiveError as exc:
            out.print(f"warning: {exc}")


@app.command("demo")
def demo_cmd(
    conf: ConfOption = None,
    repo: Annotated[Path, typer.Option("--repo", help="Feature repository.")] = Path("feature_specs"),
    jobs: Annotated[Path, typer.Option("--jobs", help="The spark-submit jobs folder.")] = Path("jobs"),
    users: Annotated[int, typer.Option(help="Users in the generated dataset.")] = 100_000,
    days: Annotated[int, typer.Option(help="Days in the generated dataset (the last 2/3 are backfilled).")] = 90,
) -> None:
    """Run the main job end to end on the configured environment."""
    from dataclasses import replace

    from featurelake.demo import run_demo
    from featurelake.demo_data import DEMO_SIZE

    size = replace(DEMO_SIZE, users=users, days=days, products=max(50, min(DEMO_SIZE.products, users // 20)))
    run_demo(load_config(conf), repo, size, say=out.print, jobs_dir=jobs)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; typer reports usage errors itself (exit 2)."""
    try:
        app(args=argv, prog_name="featurelake")
    except FeaturelakeError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        log = session_log_file()
        if log is not None and log.exists():
            err_console.print(f"details: Spark's log, {log}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
