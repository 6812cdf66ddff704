"""Local (or mounted) folders: atomic by temp file + rename, compare-and-swap under flock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from featurelake.storage.base import Storage, StorageConflictError, StorageNotFoundError, Versioned


def _path(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def _token(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStorage(Storage):
    def read(self, location: str) -> bytes:
        try:
            return _path(location).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise StorageNotFoundError(location=location) from None

    def read_versioned(self, location: str) -> Versioned:
        data = self.read(location)
        return Versioned(data, _token(data))

    def write(self, location: str, data: bytes) -> None:
        target = _path(location)
        os.replace(self._staged(target, data), target)

    def create(self, location: str, data: bytes) -> str:
        target = _path(location)
        staged = self._staged(target, data)
        try:
            os.link(staged, target)  # fails if the name is taken: exclusive, and never half-written
        except FileExistsError:
            raise StorageConflictError(location=location, problem="it already exists") from None
        finally:
            staged.unlink()
        return _token(data)

    def replace(self, location: str, data: bytes, expected: str | None) -> str:
        target = _path(location)
        with self._locked(target):
            self._check(location, target, expected)
            os.replace(self._staged(target, data), target)
        return _token(data)

    def delete(self, location: str, expected: str | None = None) -> None:
        target = _path(location)
        if expected is None:
            target.unlink(missing_ok=True)
            return
        with self._locked(target):
            self._check(location, target, expected)
            target.unlink(missing_ok=True)

    def exists(self, location: str) -> bool:
        return _path(location).exists()

    def list(self, location: str, hidden: bool = False) -> list[str]:
        folder = _path(location)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if hidden or not p.name.startswith("."))

    def delete_tree(self, location: str) -> None:
        shutil.rmtree(_path(location), ignore_errors=True)

    def move_tree(self, source: str, target: str) -> None:
        _path(target).parent.mkdir(parents=True, exist_ok=True)
        _path(source).rename(_path(target))

    def put_tree(self, folder: Path, location: str, since: float = 0.0) -> int:
        target = _path(location)
        if target.resolve() == folder.resolve():
            return 0
        copied = 0
        for file in _files_since(folder, since):
            destination = target / file.relative_to(folder)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, destination)
            copied += 1
        return copied

    def local_path(self, location: str) -> Path | None:
        return _path(location)

    @staticmethod
    def _staged(target: Path, data: bytes) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return Path(name)

    @staticmethod
    def _check(location: str, target: Path, expected: str | None) -> None:
        current = _token(target.read_bytes()) if target.is_file() else None
        if current != expected:
            problem = "it already exists" if expected is None else "its content is not the one read"
            raise StorageConflictError(location=location, problem=problem)

    @staticmethod
    @contextmanager
    def _locked(target: Path) -> Iterator[None]:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _files_since(folder: Path, since: float) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.stat().st_mtime >= since:
            yield path
