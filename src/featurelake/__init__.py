"""featurelake: a feature store for Spark shops.

from featurelake import FeatureStore
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("featurelake")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from featurelake.store import FeatureStore

__all__ = ["FeatureStore", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: DAG files and the CLI import featurelake without paying for the store.
    if name == "FeatureStore":
        from featurelake.store import FeatureStore

        return FeatureStore
    raise AttributeError(f"module 'featurelake' has no attribute {name!r}")
