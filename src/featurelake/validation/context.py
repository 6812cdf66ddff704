"""The Great Expectations context featurelake validates with.

Its configuration lives in code (an ephemeral context), so concurrent runs of different
views never race on a shared great_expectations.yml; its stores are files:
suites, validation definitions, checkpoints and validation results under
`<lake_root>/_validation/gx/`, and the Data Docs site under the reports dir
(`<lake_root>/_reports/` unless the conf says otherwise). Usage statistics are off:
featurelake never talks to servers it was not told about.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext

    from featurelake.config import FeaturelakeConfig

SITE = "featurelake"
DATASOURCE = "featurelake"


@dataclass(frozen=True)
class ValidationPaths:
    """Where validation keeps its state and writes its reports."""

    lake_root: str
    reports_dir: str
    web_assets_dir: Path | None = None

    @classmethod
    def for_lake(cls, lake_root: str) -> ValidationPaths:
        return cls(lake_root, f"{lake_root.rstrip('/')}/_reports")

    @classmethod
    def from_config(cls, conf: FeaturelakeConfig) -> ValidationPaths:
        return cls(conf.lake_root, conf.resolved_reports_dir, conf.web_assets_dir)

    @property
    def data_docs_index(self) -> Path:
        return Path(self.reports_dir).resolve() / "index.html"


def gx_root(lake_root: str) -> Path:
    return Path(lake_root).resolve() / "_validation" / "gx"


@lru_cache(maxsize=8)
def validation_context(lake_root: str, reports_dir: str) -> AbstractDataContext:
    """One context per (lake, reports dir) and process: building one costs about a second."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )

    root = gx_root(lake_root)
    root.mkdir(parents=True, exist_ok=True)
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(Path(reports_dir).resolve()),
        },
    }
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(root)),
        data_docs_sites={SITE: site},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


@contextmanager
def validation_lock(lake_root: str) -> Iterator[None]:
    """Serialise validations of one lake on this machine (threads and processes alike).

    A checkpoint run rewrites its suite, definition and checkpoint files and the Data Docs
    index; Great Expectations refuses to run objects another writer changed meanwhile.
    Callers hold it only while Great Expectations runs, with the batch already computed.
    """
    root = gx_root(lake_root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
