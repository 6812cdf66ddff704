"""The applied registry on disk: `<lake_root>/_registry/`, versioned and atomic.

Layout: `versions/000001.json`, `versions/000002.json`, ... (never rewritten) and
`CURRENT`, which names the live version. `apply` writes the new version file first
(exclusive create, so two concurrent applies cannot both take a number), then swaps
CURRENT with an atomic rename. A crash in between leaves the old version live.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from featurelake import __version__
from featurelake.errors import FeaturelakeError
from featurelake.registry.model import Registry

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
        if "://" in lake_root and not lake_root.startswith("file://"):
            raise RegistryStoreError(path=lake_root, problem="the registry needs a local or mounted lake_root for now")
        self.root = Path(lake_root.removeprefix("file://")) / "_registry"

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def _version_file(self, version: int) -> Path:
        return self.versions_dir / f"{version:0{_WIDTH}d}.json"

    def current_version(self) -> int | None:
        pointer = self.root / "CURRENT"
        if not pointer.is_file():
            return None
        try:
            return int(pointer.read_text().strip())
        except ValueError:
            raise RegistryStoreError(path=pointer, problem="CURRENT does not name a version") from None

    def load(self, version: int | None = None) -> Registry | None:
        """The live registry (or a given version); None when nothing was applied yet."""
        version = self.current_version() if version is None else version
        if version is None:
            return None
        path = self._version_file(version)
        if not path.is_file():
            raise RegistryStoreError(path=path, problem=f"version {version} does not exist")
        return Registry.model_validate(json.loads(path.read_text())["registry"])

    def history(self) -> list[AppliedVersion]:
        found = []
        for path in sorted(self.versions_dir.glob("*.json")):
            doc = json.loads(path.read_text())
            found.append(
                AppliedVersion(
                    version=doc["version"],
                    applied_at=doc["applied_at"],
                    content_hash=doc["content_hash"],
                    featurelake_version=doc["featurelake_version"],
                )
            )
        return found

    def apply(self, registry: Registry, expected_current: int | None) -> int:
        """Store `registry` as the next version and make it live; returns its number."""
        if self.current_version() != expected_current:
            raise ConcurrentApplyError(version=self.current_version())
        version = (expected_current or 0) + 1
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "version": version,
            "applied_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "content_hash": registry.content_hash(),
            "featurelake_version": __version__,
            "registry": registry.model_dump(mode="json"),
        }
        staged = self._write_temp(json.dumps(doc, indent=2, sort_keys=True))
        try:
            os.link(staged, self._version_file(version))  # fails if the number is taken
        except FileExistsError:
            raise ConcurrentApplyError(version=version) from None
        finally:
            staged.unlink()
        pointer = self._write_temp(f"{version}\n")
        os.replace(pointer, self.root / "CURRENT")
        return version

    def _write_temp(self, text: str) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return Path(name)
