"""Prometheus metrics of the feature server, summed over its worker processes.

With several workers each process writes its samples under PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode) and /metrics, answered by any worker, merges them.
`featurelake serve` makes that folder fresh at every start, as the client library requires.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter("featurelake_requests_total", "HTTP requests answered", ["endpoint", "status"])
LATENCY = Histogram(
    "featurelake_request_seconds", "Time to answer a request", ["endpoint", "status"], buckets=_LATENCY_BUCKETS
)
REDIS_SECONDS = Histogram("featurelake_redis_seconds", "Redis round trip of one read", buckets=_LATENCY_BUCKETS)
ENTITIES = Histogram(
    "featurelake_entities_per_request", "Entities asked for per request", buckets=(1, 2, 5, 10, 50, 100, 500, 1000)
)


def exposition() -> bytes:
    """The text format of every worker's metrics (or this process's alone without multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
