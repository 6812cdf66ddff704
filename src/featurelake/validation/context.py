"""The Great Expectations context featurelake validates with.

Its configuration lives in code (an ephemeral context), so concurrent runs of different
views never race on a shared great_expectations.yml; its stores are files:
suites, validation definitions, checkpoints and validation results under
`<lake_root>/_validation/gx/`, and the Data Docs site under the reports dir
(`<lake_root>/_reports/` unless the conf says otherwise). Usage statistics are off:
featurelake never talks to servers it was not told about.

Great Expectations writes local files only. When the lake or the reports dir is on an
object store, it works in a local mirror (`<state_dir>/gx/<lake id>/`) and the pages each
run builds are then uploaded to the reports dir through featurelake's storage layer.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from featurelake.storage import is_object_store, join, storage_for
from featurelake.validation.preload import wait_for_imports

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
    state_dir: Path = Path(".featurelake")

    @classmethod
    def for_lake(cls, lake_root: str) -> ValidationPaths:
        return cls(lake_root, f"{lake_root.rstrip('/')}/_reports")

    @classmethod
    def from_config(cls, conf: FeaturelakeConfig) -> ValidationPaths:
        return cls(conf.lake_root, conf.resolved_reports_dir, conf.web_assets_dir, conf.state_dir)

    @property
    def data_docs_index(self) -> str:
        if is_object_store(self.reports_dir):
            return join(self.reports_dir, "index.html")
        return str(Path(self.reports_dir).resolve() / "index.html")

    @property
    def _mirror(self) -> Path:
        lake_id = hashlib.sha256(f"{self.lake_root}|{self.reports_dir}".encode()).hexdigest()[:16]
        return self.state_dir.resolve() / "gx" / lake_id

    @property
    def gx_root(self) -> Path:
        """Great Expectations' stores: in the lake when it is local, else in the local mirror."""
        if is_object_store(self.lake_root):
            return self._mirror / "gx"
        return Path(self.lake_root.removeprefix("file://")).resolve() / "_validation" / "gx"

    @property
    def local_reports_dir(self) -> Path:
        """Where Great Expectations builds Data Docs: the reports dir itself, or the local mirror."""
        if is_object_store(self.reports_dir):
            return self._mirror / "reports"
        return Path(self.reports_dir).resolve()

    def publish_reports(self, since: float) -> int:
        """Upload the pages built since `since` (and, once, the vendored web assets) to an
        object-store reports dir; nothing to do for a local one. Returns the files uploaded."""
        if not is_object_store(self.reports_dir):
            return 0
        from featurelake.validation.assets import MANIFEST, VENDOR

        storage = storage_for(self.reports_dir)
        vendor_manifest = join(self.reports_dir, *VENDOR.parts, MANIFEST)
        uploaded = 0
        if (self.local_reports_dir / VENDOR).is_dir() and not storage.exists(vendor_manifest):
            uploaded += storage.put_tree(self.local_reports_dir / VENDOR, join(self.reports_dir, *VENDOR.parts))
        return uploaded + storage.put_tree(self.local_reports_dir, self.reports_dir, since=since)


@lru_cache(maxsize=8)
def validation_context(gx_dir: str, reports_dir: str) -> AbstractDataContext:
    """One context per (lake, reports dir) and process: building one costs about a second."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    wait_for_imports()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )

    root = Path(gx_dir)
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
def validation_lock(gx_dir: Path) -> Iterator[None]:
    """Serialise validations of one lake on this machine (threads and processes alike).

    A checkpoint run rewrites its suite, definition and checkpoint files and the Data Docs
    index; Great Expectations refuses to run objects another writer changed meanwhile.
    Callers hold it only while Great Expectations runs, with the batch already computed.
    """
    gx_dir.mkdir(parents=True, exist_ok=True)
    with open(gx_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
