"""POST /get-online-features: one request in, (status, JSON body, entities) out.

Auth, limits, parsing, resolution and the Redis read, shared by the FastAPI route (what the
OpenAPI document describes) and the raw ASGI fast path that answers it in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from featurelake.errors import FeaturelakeError
from featurelake.serving.models import OnlineFeaturesRequest
from featurelake.serving.settings import ServeSettings
from featurelake.serving.state import RedisReadError, ServerState

PATH = "/get-online-features"
Body = TypeVar("Body", bound=BaseModel)
UNAUTHORIZED = "a valid `Authorization: Bearer <token>` header is required"


class RejectedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def answer(
    state: ServerState, settings: ServeSettings, authorization: str | None, declared_length: str | None,
    body: AsyncIterator[bytes],
) -> tuple[int, bytes, int]:  # fmt: skip
    """Never raises for bad input or a Redis fault: those are 4xx / 503 answers."""
    entities = 0
    try:
        request = _parse(await read_request(state, settings, authorization, declared_length, body))
        snap = state.snapshot()
        refs = snap.registry.service_refs(request.feature_service) if request.feature_service else []
        refs += snap.registry.resolve_refs(request.features or [])
        if not refs:
            raise RejectedError(400, "give `features` (view:feature refs) or a `feature_service`")
        rows = _rows(request)
        entities = len(rows)
        if entities > settings.max_entities:
            raise RejectedError(400, f"{entities} entities in one request; at most {settings.max_entities}")
        columns = await state.read(snap, refs, rows, request.full_feature_names)
        return 200, json.dumps(columns, default=_plain).encode(), entities
    except RejectedError as exc:
        return exc.status, error_body(str(exc)), entities
    except FeaturelakeError as exc:  # unknown features, views, services; missing join keys
        return 400, error_body(str(exc)), entities
    except RedisReadError as exc:
        return 503, error_body(str(exc)), entities


async def read_request(
    state: ServerState, settings: ServeSettings, authorization: str | None, declared_length: str | None,
    body: AsyncIterator[bytes],
) -> bytes:  # fmt: skip
    """The body of an authorized request, within the size limit and the timeout; RejectedError otherwise."""
    if not state.authorized(authorization):
        raise RejectedError(401, UNAUTHORIZED)
    try:  # a client that sends its body slowly holds no worker longer than the timeout
        return await asyncio.wait_for(read_limited(body, declared_length, settings.max_body_bytes), settings.timeout_s)
    except TimeoutError:
        raise RejectedError(408, f"the request body did not arrive within {settings.timeout_s}s") from None


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    if declared and declared.isdigit() and int(declared) > limit:
        raise RejectedError(413, f"request body of {declared} bytes; at most {limit}")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RejectedError(413, f"request body over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _parse(raw: bytes) -> OnlineFeaturesRequest:
    return parse_body(OnlineFeaturesRequest, raw)


def parse_body(model: type[Body], raw: bytes) -> Body:
    """A JSON body as `model`, or a 400 naming the first problem and how many there are."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise RejectedError(400, f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from None


def _rows(request: OnlineFeaturesRequest) -> list[dict[str, Any]]:
    if request.entity_rows is not None:
        return list(request.entity_rows)
    columns = request.entities or {}
    if len({len(v) for v in columns.values()}) > 1:
        raise RejectedError(400, "all lists in `entities` must have the same length")
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")
