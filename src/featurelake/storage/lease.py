"""One writer per Delta table: a lease object in the lake, taken by conditional create.

delta-spark's S3 log store is safe for one driver at a time only (two drivers committing
to one table can lose a commit), so every featurelake writer of a table holds its lease:
`<lake_root>/_leases/<table key>.lease`, a small JSON document naming the owner (host,
pid, a random id) and when the claim expires. It is

- taken with a create-if-absent (S3 `If-None-Match: *`; locally an exclusive link);
- renewed by a background thread every ttl/3 with a compare-and-swap on the token read;
- released on exit (a conditional delete, so a holder never removes someone else's);
- taken over, again by compare-and-swap, once expired, or at once when its holder was a
  process of this host that no longer runs (a killed job blocks nobody for a whole ttl).

A second writer waits up to `wait_s`, then fails with TableLeaseTimeoutError naming the
holder. Readers never need it. Expiry compares wall clocks: hosts must keep them in step
(NTP) to well under the ttl.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from featurelake.errors import FeaturelakeError
from featurelake.storage import StorageConflictError, StorageNotFoundError, join, storage_for

log = logging.getLogger(__name__)


class TableLeaseTimeoutError(FeaturelakeError):
    template = (
        "{table} is being written by {holder} (since {since}, claim renewed until {expires}); waited {waited:.0f} s. "
        "Run again once it has finished, or raise lease.wait_s in the conf"
    )


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    host: str
    pid: int
    acquired_at: float
    expires_at: float

    @classmethod
    def parse(cls, data: bytes) -> LeaseHolder | None:
        try:
            doc: dict[str, Any] = json.loads(data)
            return cls(str(doc["owner"]), str(doc["host"]), int(doc["pid"]), float(doc["acquired_at"]),
                       float(doc["expires_at"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treated as expired

    def gone(self, now: float) -> bool:
        return now > self.expires_at or (self.host == socket.gethostname() and not _pid_alive(self.pid))

    def describe(self) -> str:
        return f"{self.host} pid {self.pid}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_location(lake_root: str, table_key: str) -> str:
    return join(lake_root, "_leases", f"{table_key}.lease")


class TableLease:
    """`with TableLease(lake_root, "features/v/v1"): ...` holds the table's lease inside the block."""

    def __init__(self, lake_root: str, table_key: str, ttl_s: float = 60.0, wait_s: float = 900.0) -> None:
        self.table = table_key
        self.location = lease_location(lake_root, table_key)
        self.storage = storage_for(self.location)
        self.ttl_s, self.wait_s = ttl_s, wait_s
        self.owner = uuid.uuid4().hex
        self.acquired_at = 0.0
        self._token: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False

    def _document(self) -> bytes:
        holder = {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(),
                  "acquired_at": self.acquired_at, "expires_at": time.time() + self.ttl_s}  # fmt: skip
        return json.dumps(holder).encode()

    def acquire(self) -> None:
        started = time.monotonic()
        self.acquired_at = time.time()
        pause = 0.2
        while True:
            holder = self._try_take()
            if holder is None:
                break
            waited = time.monotonic() - started
            if waited >= self.wait_s:
                since, expires = _iso(holder.acquired_at), _iso(holder.expires_at)
                raise TableLeaseTimeoutError(table=self.table, holder=holder.describe(), waited=waited, since=since,
                                             expires=expires)  # fmt: skip
            time.sleep(min(pause, max(0.05, self.wait_s - waited)))
            pause = min(pause * 1.5, 2.0)
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.table}", daemon=True)
        self._renewer.start()

    def _try_take(self) -> LeaseHolder | None:
        """Take the lease (None) or return who holds it."""
        try:
            self._token = self.storage.create(self.location, self._document())
            return None
        except StorageConflictError:
            pass
        try:
            current = self.storage.read_versioned(self.location)
        except StorageNotFoundError:
            return LeaseHolder("", "", 0, 0.0, 0.0)  # released meanwhile: try again at once
        holder = LeaseHolder.parse(current.data)
        if holder is not None and not holder.gone(time.time()):
            return holder
        try:
            self._token = self.storage.replace(self.location, self._document(), current.token)
        except (StorageConflictError, StorageNotFoundError):
            return holder or LeaseHolder("", "", 0, 0.0, 0.0)  # another writer took it first
        log.warning("took over the expired lease of %s from %s", self.table, holder.describe() if holder else "?")
        return None

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._lock:
                try:
                    self._token = self.storage.replace(self.location, self._document(), self._token)
                except (StorageConflictError, StorageNotFoundError):
                    self.lost = True
                    log.error("the lease of %s was taken over by another writer", self.table)
                    return
                except Exception as exc:  # a transient store error: the next renewal tries again
                    log.warning("renewing the lease of %s failed: %s", self.table, exc)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._lock:
            if self._token is not None and not self.lost:
                with contextlib.suppress(StorageConflictError, StorageNotFoundError):
                    self.storage.delete(self.location, expected=self._token)
            self._token = None

    def __enter__(self) -> TableLease:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
