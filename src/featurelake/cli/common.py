"""What every CLI command module shares: the app, consoles and common options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.errors import ConfigNotFoundError

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
