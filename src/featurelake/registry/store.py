"""The applied registry in the lake: `<lake_root>/_registry/`, versioned and atomic.

Layout: `versions/000007-<id>.json` (immutable, each naming the file of the version before
it) and `CURRENT`, the live pointer: `{"version": 7, "file": "000007-<id>.json"}`.
`apply` writes the new version file under a name nobody else can take, then moves CURRENT
by compare-and-swap (S3 `If-Match` on the ETag read; locally a content check under a lock,
then `os.replace`). Of two concurrent applies exactly one moves the pointer; the other
gets ConcurrentApplyError and its version file is never live. A crash in between leaves
the old version live and blocks nobody. Works the same on a local folder and on S3.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from featurelake import __version__
from featurelake.errors import FeaturelakeError
from featurelake.registry.model import Registry
from featurelake.storage import StorageConflictError, StorageNotFoundError, Versioned, join, storage_for

_WIDTH = 6


class RegistryStoreError(FeaturelakeError):
    template = "registry at {path}: {problem}"


class ConcurrentApplyError(FeaturelakeError):
    template = (
        "registry version {version} was applied by someone else meanwhile; run `featurelake plan` again and re-apply"
    )


@dataclass(frozen=True)
class AppliedVersion:
    version: int
    applied_at: str
    content_hash: str
    featurelake_version: str


class RegistryStore:
    def __init__(self, lake_root: str) -> None:
        self.root = join(lake_root, "_registry")
        self.storage = storage_for(self.root)

    @property
    def versions_dir(self) -> str:
        return join(self.root, "versions")

    @property
    def pointer(self) -> str:
        return join(self.root, "CURRENT")

    def _pointer(self) -> tuple[int, str, str] | None:
        """(version, its file name, the pointer's token), or None when nothing was applied."""
        try:
            current: Versioned = self.storage.read_versioned(self.pointer)
        except StorageNotFoundError:
            return None
        text = current.data.decode().strip()
        try:
            if text.isdigit():  # the layout before version files had unique names
                return int(text), f"{int(text):0{_WIDTH}d}.json", current.token
            doc = json.loads(text)
            return int(doc["version"]), str(doc["file"]), current.token
        except (ValueError, KeyError, TypeError):
            raise RegistryStoreError(path=self.pointer, problem="CURRENT does not name a version") from None

    def current_version(self) -> int | None:
        pointer = self._pointer()
        return None if pointer is None else pointer[0]

    def _doc(self, file: str) -> dict[str, Any]:
        location = join(self.versions_dir, file)
        try:
            doc: dict[str, Any] = json.loads(self.storage.read(location))
        except StorageNotFoundError:
            raise RegistryStoreError(path=location, problem="the version file CURRENT names is missing") from None
        return doc

    def _chain(self) -> list[dict[str, Any]]:
        """Every applied version, newest first, following each version's `previous`."""
        pointer = self._pointer()
        docs: list[dict[str, Any]] = []
        file: str | None = None if pointer is None else pointer[1]
        while file:
            doc = self._doc(file)
            docs.append(doc)
            version = int(doc["version"])
            file = doc.get("previous", f"{version - 1:0{_WIDTH}d}.json" if version > 1 else None)
        return docs

    def load(self, version: int | None = None) -> Registry | None:
        """The live registry (or a given version); None when nothing was applied yet."""
        pointer = self._pointer()
        if pointer is None:
            if version is not None:
                raise RegistryStoreError(path=self.root, problem=f"version {version} does not exist")
            return None
        if version is None or version == pointer[0]:
            doc = self._doc(pointer[1])
        else:
            found = [d for d in self._chain() if int(d["version"]) == version]
            if not found:
                raise RegistryStoreError(path=self.root, problem=f"version {version} does not exist")
            doc = found[0]
        return Registry.model_validate(doc["registry"])

    def history(self) -> list[AppliedVersion]:
        return [
            AppliedVersion(d["version"], d["applied_at"], d["content_hash"], d["featurelake_version"])
            for d in reversed(self._chain())
        ]

    def apply(self, registry: Registry, expected_current: int | None) -> int:
        """Store `registry` as the next version and make it live; returns its number."""
        pointer = self._pointer()
        if (None if pointer is None else pointer[0]) != expected_current:
            raise ConcurrentApplyError(version=None if pointer is None else pointer[0])
        version = (expected_current or 0) + 1
        file = f"{version:0{_WIDTH}d}-{uuid.uuid4().hex[:12]}.json"
        doc = {
            "version": version,
            "previous": None if pointer is None else pointer[1],
            "applied_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "content_hash": registry.content_hash(),
            "featurelake_version": __version__,
            "registry": registry.model_dump(mode="json"),
        }
        self.storage.create(join(self.versions_dir, file), json.dumps(doc, indent=2, sort_keys=True).encode())
        live = json.dumps({"version": version, "file": file}).encode()
        try:
            self.storage.replace(self.pointer, live, None if pointer is None else pointer[2])
        except StorageConflictError:
            raise ConcurrentApplyError(version=version) from None
        return version
