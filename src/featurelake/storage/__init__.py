"""One storage layer for every lake file that is not a Delta table (registry, pointers,
snapshots' pointers, validation records and statistics, Data Docs, training-set metadata,
leases). Delta tables and Spark-written data go through Spark (s3a) instead.

    storage = storage_for(location)          # LocalStorage or S3Storage
    storage.replace(pointer, data, token)    # compare-and-swap of a live pointer
"""

from __future__ import annotations

from functools import lru_cache

from featurelake.storage.base import (
    BucketMissingError,
    Storage,
    StorageAccessDeniedError,
    StorageConflictError,
    StorageError,
    StorageNotFoundError,
    StorageUnreachableError,
    Versioned,
    is_object_store,
    join,
)
from featurelake.storage.local import LocalStorage
from featurelake.storage.s3 import S3Settings

__all__ = [
    "BucketMissingError",
    "S3Settings",
    "Storage",
    "StorageAccessDeniedError",
    "StorageConflictError",
    "StorageError",
    "StorageNotFoundError",
    "StorageUnreachableError",
    "Versioned",
    "configure_object_store",
    "is_object_store",
    "join",
    "object_store_settings",
    "storage_for",
]

_conf_settings = S3Settings()
_LOCAL = LocalStorage()


def configure_object_store(settings: S3Settings) -> None:
    """The conf file's `s3:` section (the AWS environment still wins); called when a config loads."""
    global _conf_settings
    if settings != _conf_settings:
        _conf_settings = settings
        _s3.cache_clear()


def object_store_settings() -> S3Settings:
    return S3Settings.from_env(_conf_settings)


def storage_for(location: str) -> Storage:
    """The backend that holds `location`."""
    if is_object_store(location):
        return _s3(object_store_settings())
    return _LOCAL


@lru_cache(maxsize=4)
def _s3(settings: S3Settings) -> Storage:
    from featurelake.storage.s3 import S3Storage

    return S3Storage(settings)
