"""What one feature-server process holds: the registry and its read plans, an async Redis
client, the accepted tokens, and a task that picks up newly applied registry versions.

A request takes `snapshot()` once, so a registry swap mid-request never mixes versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurelake.config import FeaturelakeConfig
from featurelake.online.reader import ReadPlans, assemble, redis_keys
from featurelake.registry import load_registry
from featurelake.registry.model import FeatureRef, Registry
from featurelake.registry.store import RegistryStore
from featurelake.serving.metrics import REDIS_SECONDS
from featurelake.serving.mget_batcher import MgetBatcher
from featurelake.serving.settings import ServeSettings
from featurelake.similarity import IndexCache

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger("featurelake.serve")


@dataclass(frozen=True)
class Snapshot:
    version: int
    registry: Registry
    plans: ReadPlans

    @classmethod
    def load(cls, config: FeaturelakeConfig, version: int | None = None) -> Snapshot:
        version = version if version is not None else RegistryStore(config.lake_root).current_version()
        registry = load_registry(config, version)  # NothingAppliedError when there is none
        return cls(version or 0, registry, ReadPlans(registry))


class RedisReadError(Exception):
    """Redis did not answer a read (down, refused, or slower than the client timeout)."""


class ServerState:
    def __init__(self, settings: ServeSettings, config: FeaturelakeConfig) -> None:
        self.settings = settings
        self.config = config
        self._tokens = tuple(t.encode() for t in settings.tokens())
        self._snapshot = Snapshot.load(config)
        self.redis = _async_client(config, settings.timeout_s)
        self._mget = MgetBatcher(self.redis)
        self._reload: asyncio.Task[None] | None = None
        # Requests never check for new index versions; the reload loop does, and swaps them in.
        self.indexes = IndexCache(config.lake_root, config.state_dir / "index-cache", settings.registry_refresh_s)

    def open_indexes(self) -> None:
        """Open the live version of every similarity index the registry declares (one not
        built yet is opened by the first query after it is)."""
        registry = self._snapshot.registry
        for view in registry.views.values():
            for feature in view.features:
                if feature.index is None:
                    continue
                try:
                    self.indexes.get(view.name, view.version, feature.name)
                except Exception as exc:  # serve the rest; a query on this one answers why
                    log.warning("similarity index of %s:%s not opened: %s", view.name, feature.name, exc)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def auth_required(self) -> bool:
        return bool(self._tokens)

    def authorized(self, header: str | None) -> bool:
        """Constant time in the token: every accepted token is compared, match or not."""
        if not self._tokens:
            return True
        scheme, _, given = (header or "").partition(" ")
        offered = given.strip().encode() if scheme.lower() == "bearer" else b""
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return matched

    async def read(self, snap: Snapshot, refs: list[FeatureRef], rows: list[dict[str, Any]], full: bool) -> Any:
        plans = snap.plans.get(refs, full)
        keys = redis_keys(plans, rows)
        started = time.perf_counter()
        try:
            values: list[Any] = await asyncio.wait_for(self._mget.mget(keys), self.settings.timeout_s) if keys else []
        except (TimeoutError, OSError) as exc:
            raise RedisReadError(
                f"Redis did not answer within {self.settings.timeout_s}s ({type(exc).__name__})"
            ) from None
        except Exception as exc:  # redis-py's ConnectionError and friends
            if type(exc).__module__.startswith("redis"):
                raise RedisReadError(f"Redis is unavailable: {type(exc).__name__}") from None
            raise
        REDIS_SECONDS.observe(time.perf_counter() - started)
        return assemble(plans, rows, values)

    async def redis_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), self.settings.timeout_s))
        except Exception:
            return False

    def start_reloading(self) -> None:
        if self.settings.registry_refresh_s > 0:
            self._reload = asyncio.get_running_loop().create_task(self._reload_loop())

    async def _reload_loop(self) -> None:
        store = RegistryStore(self.config.lake_root)
        while True:
            await asyncio.sleep(self.settings.registry_refresh_s)
            try:
                current = await asyncio.to_thread(store.current_version)
                if current is not None and current != self._snapshot.version:
                    self._snapshot = await asyncio.to_thread(Snapshot.load, self.config, current)
                    log.warning("registry version %s loaded", current)
            except Exception as exc:  # keep serving the version we have; say why once per try
                log.warning("registry reload failed, still serving version %s: %s", self._snapshot.version, exc)
            for view, version, feature in self.indexes.loaded():
                before = self.indexes.get(view, version, feature, max_age_s=float("inf")).manifest.index_id
                after = (await asyncio.to_thread(self.indexes.refresh, view, version, feature)).manifest.index_id
                if after != before:
                    log.warning("similarity index of %s:%s: %s loaded", view, feature, after)

    async def close(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload
        await self.redis.aclose()


def _async_client(config: FeaturelakeConfig, timeout_s: float) -> redis.asyncio.Redis:
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from featurelake.online.redis_server import redis_settings

    rs = redis_settings(config)
    kwargs: dict[str, Any] = {
        "socket_timeout": min(rs.socket_timeout, timeout_s),
        "socket_connect_timeout": min(2.0, timeout_s),
        # A failed read is answered 503 at once; retrying would only push it past the timeout.
        "retry": Retry(NoBackoff(), 0),
        "max_connections": 64,
    }
    if rs.password:
        kwargs["password"] = rs.password
    if rs.ssl_ca_certs:
        kwargs["ssl_ca_certs"] = rs.ssl_ca_certs
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(rs.url, **kwargs)
    return client
