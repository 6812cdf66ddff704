"""What every CLI command module shares: the app, consoles and common options."""

from __future__ import annotations

import contextlib
import signal
import socketserver
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.errors import ConfigNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurelake.registry.model import Registry

app = typer.Typer(
    name="featurelake",
    help="A feature store for Spark shops: YAML specs -> Delta -> training sets and Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Piped output (tests, CI logs) gets wide lines instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

ConfOption = Annotated[
    Path | None,
    typer.Option("--conf", help="Environment config (default: $FEATURELAKE_CONF or conf/local.yaml)."),
]
RepoOption = Annotated[Path, typer.Option("--repo", help="Feature repository: the folder of YAML specs.")]
DEFAULT_REPO = Path("feature_specs")


def optional_config(conf: Path | None) -> FeaturelakeConfig | None:
    """The config when one is given or found; None lets offline commands run without one."""
    try:
        return load_config(conf)
    except ConfigNotFoundError:
        if conf is not None:
            raise
        return None


def view_job(conf: Path | None, view: str, purpose: str) -> tuple[FeaturelakeConfig, Registry, SparkSession]:
    """Config, applied registry and a Spark session for a command on one view.

    An unknown view fails here, before Spark starts.
    """
    from featurelake.registry import load_registry
    from featurelake.spark.session import build_spark_session

    config = load_config(conf)
    registry = load_registry(config)
    registry.view(view)
    return config, registry, build_spark_session(config, app_name=f"featurelake-{purpose}-{view}")


@contextlib.contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (a supervisor's stop) ends the block as Ctrl-C does, so a command that started
    services in their own process groups stops them instead of leaving them orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_until_interrupted(server: socketserver.BaseServer) -> None:
    """Serve until Ctrl-C, then close the socket (reports --serve, serve)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
