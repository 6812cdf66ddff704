"""POST /similar: the same `find_similar` as the Python API and the CLI, in a worker thread.

The index version is taken once per request from the server's IndexCache (swapped in the
background by the reload loop, never inside a request); feature values for `features` and
`filter` are read from Redis with the registry snapshot the request started with.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from featurelake.errors import FeaturelakeError, RedisUnavailableError
from featurelake.online.reader import OnlineReader
from featurelake.online.redis_server import redis_settings
from featurelake.registry.model import FeatureRef
from featurelake.serving.models import SimilarRequest
from featurelake.serving.online_features import RejectedError, error_body, parse_body, read_request
from featurelake.serving.settings import ServeSettings
from featurelake.similarity import find_similar, indexed_feature

if TYPE_CHECKING:
    from featurelake.serving.state import ServerState, Snapshot

PATH = "/similar"
_readers = threading.local()  # one sync Redis client per worker thread


async def answer_similar(
    state: ServerState, settings: ServeSettings, authorization: str | None, declared_length: str | None,
    body: AsyncIterator[bytes],
) -> tuple[int, bytes]:  # fmt: skip
    """Never raises for bad input or a Redis fault: those are 4xx / 503 answers."""
    try:
        request = parse_body(SimilarRequest, await read_request(state, settings, authorization, declared_length, body))
        snap = state.snapshot()
        try:
            result = await asyncio.wait_for(asyncio.to_thread(_find, state, snap, request), settings.timeout_s)
        except TimeoutError:
            raise RejectedError(503, f"the query did not finish within {settings.timeout_s}s") from None
        return 200, json.dumps(result).encode()
    except RejectedError as exc:
        return exc.status, error_body(str(exc))
    except RedisUnavailableError as exc:
        return 503, error_body(str(exc))
    except FeaturelakeError as exc:  # bad vector, k, entity, filter; no index
        return 400, error_body(str(exc))
    except Exception as exc:
        if type(exc).__module__.startswith("redis"):
            return 503, error_body(f"Redis is unavailable: {type(exc).__name__}")
        raise


def _find(state: ServerState, snap: Snapshot, request: SimilarRequest) -> dict[str, Any]:
    ref, _ = indexed_feature(snap.registry, request.feature)
    view = snap.registry.view(ref.view)
    index = state.indexes.get(ref.view, view.version, ref.feature, max_age_s=float("inf"))

    def fetch(refs: list[FeatureRef], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        return _reader(state, snap).get(refs, rows, full_feature_names=True).to_dict()

    result = find_similar(index, snap.registry, request.feature, entity=request.entity, vector=request.vector,
                          k=request.k, features=request.features or [], filter=request.filter, fetch=fetch)  # fmt: skip
    return result.to_dict()


def _reader(state: ServerState, snap: Snapshot) -> OnlineReader:
    reader: OnlineReader | None = getattr(_readers, "reader", None)
    if reader is None or reader.registry is not snap.registry:
        client = getattr(_readers, "client", None)
        if client is None:
            settings = redis_settings(state.config)
            timeout = min(settings.socket_timeout, state.settings.timeout_s)
            client = _readers.client = dataclasses.replace(settings, socket_timeout=timeout).client()
        reader = _readers.reader = OnlineReader(client, snap.registry)
    return reader
