"""Freshness: is the newest value of a view younger than its `freshness_sla`?

Where the newest event time comes from:
- online views: the watermark materialization keeps in Redis beside the values
  (`max_event_us`), i.e. what the online store can actually serve;
- offline views: the statistics stored when each day was published (the newest
  event_timestamp of the newest published partition), so the hourly monitor never needs
  to start Spark to scan a Delta table.
A view that never received data is stale. Views without a `freshness_sla` are reported
but never stale.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView, duration_seconds
from featurelake.validation.stats import previous_stats


class StaleFeaturesError(FeaturelakeError):
    template = "{count} feature view(s) breach their freshness_sla:\n{summary}"


@dataclass(frozen=True)
class FreshnessCheck:
    view: str
    version: int
    source: str  # "redis" or "delta"
    sla_s: int | None
    newest_event_us: int | None
    as_of_us: int

    @property
    def age_s(self) -> float | None:
        return None if self.newest_event_us is None else (self.as_of_us - self.newest_event_us) / 1e6

    @property
    def stale(self) -> bool:
        if self.sla_s is None:
            return False
        age = self.age_s
        return age is None or age > self.sla_s

    def line(self) -> str:
        verdict = "STALE" if self.stale else ("fresh" if self.sla_s is not None else "no SLA")
        newest = "never" if self.newest_event_us is None else _iso(self.newest_event_us)
        age = "" if self.age_s is None else f", age {_human(self.age_s)}"
        sla = "" if self.sla_s is None else f", sla {_human(self.sla_s)}"
        return f"{verdict:<6} {self.view} v{self.version}: newest event {newest} (in {self.source}){age}{sla}"


class BadTimeError(FeaturelakeError):
    template = "{value!r} is not an ISO time like 2026-01-31T06:00:00Z ({problem})"


def parse_as_of(value: str | None) -> datetime | None:
    """An ISO time (naive means UTC); None stays None (now)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadTimeError(value=value, problem=exc) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def newest_offline_event_us(lake_root: str, view: FeatureView) -> int | None:
    stats = previous_stats(lake_root, view)
    return None if stats is None else stats.newest_event_us


def check_freshness(
    conf: FeaturelakeConfig,
    registry: Registry,
    views: Iterable[str] | None = None,
    as_of: datetime | None = None,
) -> list[FreshnessCheck]:
    """One FreshnessCheck per view (all views by default), as of `as_of` (default: now).

    Redis is contacted only when an online view is checked; an unreachable Redis is a
    typed error (RedisUnavailableError), never a silent "fresh".
    """
    names = list(views) if views is not None else sorted(registry.views)
    specs = [registry.view(name) for name in names]
    as_of_us = int((as_of.timestamp() if as_of else time.time()) * 1_000_000)
    online_newest = _online_newest(conf, registry, [v for v in specs if v.online])
    checks = []
    for view in specs:
        newest = online_newest[view.name] if view.online else newest_offline_event_us(conf.lake_root, view)
        sla = duration_seconds(view.freshness_sla) if view.freshness_sla else None
        where = "redis" if view.online else "delta"
        checks.append(FreshnessCheck(view.name, view.version, where, sla, newest, as_of_us))
    return checks


def _online_newest(conf: FeaturelakeConfig, registry: Registry, views: list[FeatureView]) -> dict[str, int | None]:
    if not views:
        return {}
    from featurelake.online.keys import watermark_key
    from featurelake.online.materialize import read_watermark
    from featurelake.online.redis_server import connect

    client = connect(conf)
    try:
        marks = {v.name: read_watermark(client, watermark_key(registry.project, v.name, v.version)) for v in views}
    finally:
        client.close()
    return {name: (mark.max_event_us if mark and mark.max_event_us >= 0 else None) for name, mark in marks.items()}


def stale_error(checks: list[FreshnessCheck]) -> StaleFeaturesError | None:
    stale = [c for c in checks if c.stale]
    if not stale:
        return None
    return StaleFeaturesError(count=len(stale), summary="\n".join(f"  {c.line()}" for c in stale))
