"""The feature server: FastAPI on uvicorn, one Redis round trip per request.

POST /get-online-features reads with the same plans and decoding as the Python API
(online.reader); GET /health (process up), /ready (Redis answers, registry loaded),
/metrics (Prometheus), /openapi.json. Errors are JSON {"error": message}: 400 bad request,
401 no valid token, 413 body too large, 503 Redis unavailable or slower than the timeout.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from featurelake.config import load_config
from featurelake.errors import FeaturelakeError
from featurelake.serving.metrics import ENTITIES, LATENCY, REQUESTS, exposition
from featurelake.serving.models import (
    ErrorResponse,
    HealthResponse,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    ReadyResponse,
)
from featurelake.serving.settings import ServeSettings
from featurelake.serving.state import RedisReadError, ServerState

access_log = logging.getLogger("featurelake.access")
_JSON = "application/json"
_ERROR_TEXT = {
    400: "bad request",
    401: "no valid bearer token",
    413: "body too large",
    503: "Redis unavailable or slower than the timeout",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in _ERROR_TEXT.items()
}


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The ASGI app (uvicorn calls this in each worker; settings come from the environment)."""
    settings = settings or ServeSettings.from_env()
    _configure_logging(settings.access_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState(settings, load_config(settings.conf))
        app.state.server = state
        state.start_reloading()
        yield
        await state.close()

    app = FastAPI(title="featurelake feature server", version="1", lifespan=lifespan)
    body_schema = OnlineFeaturesRequest.model_json_schema()

    @app.post(
        "/get-online-features",
        summary="Newest feature values of entities (one Redis round trip)",
        response_model=OnlineFeaturesResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": {_JSON: {"schema": body_schema}}}},
    )
    async def get_online_features(request: Request) -> Response:
        state: ServerState = request.app.state.server
        started = time.perf_counter()
        status, entities = 200, 0
        try:
            if not state.authorized(request.headers.get("authorization")):
                raise _Reject(401, "a valid `Authorization: Bearer <token>` header is required")
            body = _parse(await _body(request, settings.max_body_bytes))
            snap = state.snapshot()
            refs = snap.registry.service_refs(body.feature_service) if body.feature_service else []
            refs += snap.registry.resolve_refs(body.features or [])
            if not refs:
                raise _Reject(400, "give `features` (view:feature refs) or a `feature_service`")
            rows = _rows(body)
            entities = len(rows)
            if entities > settings.max_entities:
                raise _Reject(400, f"{entities} entities in one request; at most {settings.max_entities}")
            columns = await state.read(snap, refs, rows, body.full_feature_names)
            response = Response(json.dumps(columns, default=_plain).encode(), media_type=_JSON)
        except _Reject as exc:
            status, response = exc.status, _error(exc.status, str(exc))
        except FeaturelakeError as exc:  # unknown features, views, services; missing join keys
            status, response = 400, _error(400, str(exc))
        except RedisReadError as exc:
            status, response = 503, _error(503, str(exc))
        _observe(request, "/get-online-features", status, started, entities)
        return response

    @app.get("/health", response_model=HealthResponse, summary="The process is up")
    async def health() -> HealthResponse:
        return HealthResponse(status="ok")

    @app.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}}, summary="Redis answers")
    async def ready(request: Request) -> Response:
        state: ServerState = request.app.state.server
        ok = await state.redis_ok()
        payload = ReadyResponse(status="ready" if ok else "not ready", registry_version=state.snapshot().version,
                                redis="ok" if ok else "unreachable")  # fmt: skip
        return Response(payload.model_dump_json(), status_code=200 if ok else 503, media_type=_JSON)

    @app.get("/metrics", summary="Prometheus metrics of every worker", responses={401: _ERRORS[401]})
    async def metrics(request: Request) -> Response:
        if not request.app.state.server.authorized(request.headers.get("authorization")):
            return _error(401, "a valid `Authorization: Bearer <token>` header is required")
        return Response(exposition(), media_type="text/plain; version=0.0.4")

    return app


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Reject(413, f"request body of {declared} bytes; at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Reject(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> OnlineFeaturesRequest:
    try:
        return OnlineFeaturesRequest.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise _Reject(400, f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from None


def _rows(body: OnlineFeaturesRequest) -> list[dict[str, Any]]:
    if body.entity_rows is not None:
        return list(body.entity_rows)
    columns = body.entities or {}
    if len({len(v) for v in columns.values()}) > 1:
        raise _Reject(400, "all lists in `entities` must have the same length")
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type=_JSON)


def _observe(request: Request, endpoint: str, status: int, started: float, entities: int) -> None:
    seconds = time.perf_counter() - started
    REQUESTS.labels(endpoint, str(status)).inc()
    LATENCY.labels(endpoint, str(status)).observe(seconds)
    if entities:
        ENTITIES.observe(entities)
    if access_log.isEnabledFor(logging.INFO):
        client = request.client.host if request.client else None
        record = {"method": request.method, "path": endpoint, "status": status,
                  "ms": round(seconds * 1000, 3), "entities": entities, "client": client}  # fmt: skip
        access_log.info(json.dumps(record))


def _configure_logging(enabled: bool) -> None:
    """In each worker process (uvicorn starts them fresh): JSON access lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name, level in (("featurelake.access", logging.INFO if enabled else logging.WARNING),
                        ("featurelake.serve", logging.INFO), ("uvicorn.error", logging.INFO)):  # fmt: skip
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = [handler]
        logger.propagate = False
