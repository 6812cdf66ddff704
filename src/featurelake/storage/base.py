"""The storage port: every lake file outside Delta tables goes through it.

A location is a local path or an `s3a://` / `s3://` URI. Writes are whole-object: a
reader sees the old or the new content, never half of one. Three kinds of write:

- `write`: replace whatever is there (records a rerun rewrites, statistics);
- `create`: only if nothing is there (immutable files: registry versions, leases);
- `replace`: only if what is there is still what was read (`Versioned.token`): the
  compare-and-swap that moves a live pointer. S3 uses `If-Match` on the ETag; a local
  folder compares a content hash under an exclusive lock, then `os.replace`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from featurelake.errors import FeaturelakeError


class StorageError(FeaturelakeError):
    template = "{location}: {problem}"


class StorageNotFoundError(StorageError):
    template = "{location} does not exist"


class StorageConflictError(StorageError):
    template = "{location} was changed by another writer meanwhile ({problem})"


class StorageUnreachableError(StorageError):
    template = (
        "cannot reach the object store for {location} at {endpoint}: {problem}; check AWS_ENDPOINT_URL "
        "(or s3.endpoint_url in the conf) and that the store is up"
    )


class StorageAccessDeniedError(StorageError):
    template = (
        "the object store refused access to {location} ({problem}); check AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY (or the instance's credentials) and the bucket's policy"
    )


class BucketMissingError(StorageError):
    template = "bucket {bucket} of {location} does not exist; create it or fix lake_root / FEATURELAKE_LAKE_ROOT"


@dataclass(frozen=True)
class Versioned:
    """Content and the token a compare-and-swap must name to replace it."""

    data: bytes
    token: str


class Storage(ABC):
    """One backend: local folders or one object store."""

    @abstractmethod
    def read(self, location: str) -> bytes: ...

    @abstractmethod
    def read_versioned(self, location: str) -> Versioned: ...

    @abstractmethod
    def write(self, location: str, data: bytes) -> None: ...

    @abstractmethod
    def create(self, location: str, data: bytes) -> str:
        """Write only if absent (StorageConflictError otherwise); returns the new token."""

    @abstractmethod
    def replace(self, location: str, data: bytes, expected: str | None) -> str:
        """Write only if the current token is `expected` (None: only if absent); returns the new token."""

    @abstractmethod
    def delete(self, location: str, expected: str | None = None) -> None:
        """Remove one object (no error if absent); with `expected`, only if its token still matches."""

    @abstractmethod
    def exists(self, location: str) -> bool: ...

    @abstractmethod
    def list(self, location: str, hidden: bool = False) -> list[str]:
        """Names of the direct children of a folder (files and sub-folders), sorted; hidden
        ones (a leading dot: staging folders, temporary files) only with `hidden`."""

    @abstractmethod
    def delete_tree(self, location: str) -> None: ...

    @abstractmethod
    def move_tree(self, source: str, target: str) -> None:
        """Rename a folder (atomic locally; a copy then delete on object stores)."""

    @abstractmethod
    def put_tree(self, folder: Path, location: str, since: float = 0.0) -> int:
        """Copy the files of a local folder modified at or after `since` under `location`; returns how many."""

    def local_path(self, location: str) -> Path | None:
        """The local path of a location, when it has one."""
        return None


def is_object_store(location: str) -> bool:
    return location.startswith(("s3a://", "s3://", "s3n://"))


def join(base: str, *parts: str) -> str:
    """`base/part/part`, for paths and URIs alike."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])
