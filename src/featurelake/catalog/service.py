"""The catalog's queries over one lake: search, and each part of a view page. The registry is
loaded once and re-read when its pointer moved (checked at most every `refresh_s`); Redis is
asked only for online status and freshness, with a short timeout, and an unreachable Redis
is reported on the page instead of failing it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import redis

from featurelake.catalog import model, records
from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.redis_server import redis_settings
from featurelake.registry import load_registry
from featurelake.registry.model import Registry
from featurelake.registry.store import RegistryStore
from featurelake.specs.models import FeatureView
from featurelake.validation.stats import previous_stats

KEY_COUNT_BUDGET_S = 0.25  # SCAN is O(keyspace): a big Redis is counted in part, and says so


@dataclass(frozen=True)
class SearchFilters:
    entity: str | None = None
    owner: str | None = None
    tag: str | None = None
    online: bool | None = None
    dtype: str | None = None

    def admit(self, view: FeatureView) -> bool:
        return (
            (self.entity is None or view.entity == self.entity)
            and (self.owner is None or view.owner == self.owner)
            and (self.tag is None or self.tag in view.tags)
            and (self.online is None or view.online == self.online)
            and (self.dtype is None or any(f.dtype == self.dtype for f in view.features))
        )


def search(registry: Registry, query: str, filters: SearchFilters) -> list[model.ViewSummary]:
    """Views whose name, description, owner, tags or features match every word of `query`
    (case-insensitive); views matched by name first, then by name."""
    words = query.lower().split()
    found = []
    for view in sorted(registry.views.values(), key=lambda v: v.name):
        if not filters.admit(view):
            continue
        text = " ".join([view.name, view.description, view.owner, *view.tags]).lower()
        features = {f.name: f"{f.name} {f.description}".lower() for f in view.features}
        if all(w in text or any(w in t for t in features.values()) for w in words):
            matched = [name for name, t in features.items() if words and any(w in t for w in words)]
            found.append(model.summary(view, matched))
    return sorted(found, key=lambda s: (not any(w in s.name for w in words), s.name))


class Catalog:
    def __init__(self, conf: FeaturelakeConfig, refresh_s: float = 5.0) -> None:
        self.conf, self.refresh_s = conf, refresh_s
        self._lock = threading.Lock()
        self._registry: Registry | None = None
        self._version: int | None = None
        self._checked = 0.0
        self._client: redis.Redis | None = None

    def registry(self) -> Registry | None:
        """The applied registry, or None when nothing was applied yet."""
        with self._lock:
            if time.monotonic() - self._checked >= self.refresh_s:
                self._checked = time.monotonic()
                version = RegistryStore(self.conf.lake_root).current_version()
                if version is not None and version != self._version:
                    self._registry, self._version = load_registry(self.conf), version
            return self._registry

    def view(self, name: str) -> tuple[Registry, FeatureView]:
        registry = self.registry()
        if registry is None:
            raise NothingAppliedError(lake=self.conf.lake_root)
        return registry, registry.view(name)  # UnknownViewError names the near misses

    def detail(self, name: str) -> model.ViewDetail:
        registry, view = self.view(name)
        return model.detail(registry, view)

    def lineage(self, name: str) -> model.Lineage:
        registry, view = self.view(name)
        return model.lineage(registry, view, records.training_sets(self.conf.lake_root))

    def quality(self, name: str) -> model.Quality:
        return model.quality(self.conf.lake_root, self.view(name)[1])

    def history(self, name: str) -> list[model.HistoryEntry]:
        return model.history(self.conf.lake_root, self.view(name)[1])

    def freshness(self, name: str) -> model.Freshness:
        registry, view = self.view(name)
        newest = previous_stats(self.conf.lake_root, view)  # one file: the newest published day's
        newest_day = None if newest is None else newest.day.isoformat()
        newest_us, moved_us, problem = (None if newest is None else newest.newest_event_us), None, None
        if view.online:
            try:
                mark = self._redis().hgetall(watermark_key(registry.project, view.name, view.version))
                newest_us = int(mark[b"max_event_us"]) if mark else None
                moved_us = int(mark[b"updated_at_us"]) if b"updated_at_us" in mark else None
            except (FeaturelakeError, OSError, ValueError) as exc:
                newest_us, problem = None, f"Redis not asked: {exc}"
            except Exception as exc:  # redis-py's errors: shown on the page, never a failed page
                newest_us, problem = None, f"Redis did not answer: {type(exc).__name__}"
        return model.freshness(view, newest_day, newest_us, moved_us, int(time.time() * 1e6), problem)

    def online(self, name: str) -> model.Online:
        registry, view = self.view(name)
        status = model.Online(online=view.online, ttl=view.ttl, keys_present=None, keys_counted_fully=False,
                              watermark_delta_version=None,
                              last_consistency=records.last_consistency(self.conf.lake_root, view))  # fmt: skip
        if not view.online:
            return status
        try:
            client = self._redis()
            mark = client.hgetall(watermark_key(registry.project, view.name, view.version))
            count, whole = _count_keys(client, view_prefix(registry.project, view.name, view.version))
        except Exception as exc:  # see freshness()
            return status.model_copy(update={"problem": f"Redis did not answer: {type(exc).__name__}"})
        version = int(mark[b"delta_version"]) if mark else None
        return status.model_copy(update={"keys_present": count, "keys_counted_fully": whole,
                                         "watermark_delta_version": version})  # fmt: skip

    def _redis(self) -> redis.Redis:
        if self._client is None:  # one pool for every page; a short timeout, so a page never hangs
            self._client = replace(redis_settings(self.conf), socket_timeout=1.0).client()
        return self._client


def _count_keys(client: redis.Redis, prefix: str) -> tuple[int, bool]:
    deadline, count, cursor = time.monotonic() + KEY_COUNT_BUDGET_S, 0, 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=f"{prefix}*", count=10_000)
        count += len(keys)
        if cursor == 0:
            return count, True
        if time.monotonic() > deadline:
            return count, False


class NothingAppliedError(FeaturelakeError):
    template = "no registry has been applied to the lake {lake} yet; run `featurelake apply` first"
