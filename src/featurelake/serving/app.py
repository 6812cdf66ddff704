"""The feature server: FastAPI on uvicorn, one Redis round trip per request.

POST /get-online-features reads with the same plans and decoding as the Python API
(online.reader); GET /health (process up), /ready (Redis answers, registry loaded),
/metrics (Prometheus), /openapi.json. Errors are JSON {"error": message}: 400 bad request,
401 no valid token, 413 body too large, 503 Redis unavailable or slower than the timeout.

POST /get-online-features is answered by a raw ASGI fast path in front of FastAPI (same
code, `online_features.answer`): FastAPI's middleware stack and request objects were half
of the CPU time of a request. FastAPI keeps its route, so the OpenAPI document describes it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from featurelake.config import load_config
from featurelake.serving.access_log import AccessLog
from featurelake.serving.metrics import ENTITIES, LATENCY, REQUESTS, exposition
from featurelake.serving.models import (
    ErrorResponse,
    HealthResponse,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    ReadyResponse,
    SimilarRequest,
    SimilarResponse,
)
from featurelake.serving.online_features import PATH, UNAUTHORIZED, answer, error_body
from featurelake.serving.settings import ServeSettings
from featurelake.serving.similar import PATH as SIMILAR_PATH
from featurelake.serving.similar import answer_similar
from featurelake.serving.state import ServerState

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JSON = "application/json"
_ERROR_TEXT = {
    400: "bad request",
    401: "no valid bearer token",
    408: "the body did not arrive within the timeout",
    413: "body too large",
    503: "Redis unavailable or slower than the timeout",
}
_KNOWN = {PATH, SIMILAR_PATH, "/health", "/ready", "/metrics", "/openapi.json", "/docs"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in _ERROR_TEXT.items()
}


def create_app(settings: ServeSettings | None = None) -> OnlineFeaturesFastPath:
    """The ASGI app (uvicorn calls this in each worker; settings come from the environment)."""
    settings = settings or ServeSettings.from_env()
    _configure_logging()
    access = AccessLog(settings.access_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState(settings, load_config(settings.conf))
        app.state.server = state
        await asyncio.to_thread(state.open_indexes)  # before the first request, not inside it
        state.start_reloading()
        access.start()
        yield
        await state.close()
        await access.close()  # after requests in flight: their lines are written too

    app = FastAPI(title="featurelake feature server", version="1", lifespan=lifespan)
    body_schema = OnlineFeaturesRequest.model_json_schema()

    @app.post(
        PATH,
        summary="Newest feature values of entities (one Redis round trip)",
        response_model=OnlineFeaturesResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": {_JSON: {"schema": body_schema}}}},
    )
    async def get_online_features(request: Request) -> Response:
        started = time.perf_counter()
        status, payload, entities = await answer(request.app.state.server, settings,
                                                 request.headers.get("authorization"),
                                                 request.headers.get("content-length"), request.stream())  # fmt: skip
        client = request.client.host if request.client else None
        observe(access, "POST", status, started, entities, client)
        return Response(payload, status_code=status, media_type=_JSON)

    similar_schema = SimilarRequest.model_json_schema()

    @app.post(
        SIMILAR_PATH,
        summary="The k entities most similar to an entity or a vector (similarity index of an embedding)",
        response_model=SimilarResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": {_JSON: {"schema": similar_schema}}}},
    )
    async def similar(request: Request) -> Response:
        status, payload = await answer_similar(request.app.state.server, settings,
                                               request.headers.get("authorization"),
                                               request.headers.get("content-length"), request.stream())  # fmt: skip
        return Response(payload, status_code=status, media_type=_JSON)

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
            return Response(error_body(UNAUTHORIZED), status_code=401, media_type=_JSON)
        return Response(exposition(), media_type="text/plain; version=0.0.4")

    return OnlineFeaturesFastPath(app, settings, access)


class OnlineFeaturesFastPath:
    """POST /get-online-features straight from ASGI messages; everything else goes to FastAPI."""

    def __init__(self, app: FastAPI, settings: ServeSettings, access: AccessLog) -> None:
        self.app, self.settings, self.access = app, settings, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] != PATH or scope["method"] != "POST":
            await self._metered(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        authorization, length = headers.get(b"authorization"), headers.get(b"content-length")
        status, payload, entities = await answer(
            self.app.state.server, self.settings, authorization.decode("latin-1") if authorization else None,
            length.decode("latin-1") if length else None, _body(receive),
        )  # fmt: skip
        client = scope.get("client")
        # Counted before the answer leaves: a client that then scrapes /metrics already sees it.
        observe(self.access, "POST", status, started, entities, client[0] if client else None)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    async def _metered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's endpoints, counted and timed per endpoint and status like the hot one."""
        started, counted = time.perf_counter(), False
        endpoint = scope["path"] if scope["path"] in _KNOWN else "other"  # bounded label values

        def count(status: int) -> None:
            nonlocal counted
            counted = True
            REQUESTS.labels(endpoint, str(status)).inc()
            LATENCY.labels(endpoint, str(status)).observe(time.perf_counter() - started)

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                count(message["status"])  # before it leaves, as on the hot path
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not counted:
                count(500)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


def observe(access: AccessLog, method: str, status: int, started: float, entities: int, client: Any) -> None:
    seconds = time.perf_counter() - started
    label = str(status)
    REQUESTS.labels(PATH, label).inc()
    LATENCY.labels(PATH, label).observe(seconds)
    if entities:
        ENTITIES.observe(entities)
    access.record(method, PATH, status, seconds, entities, client)


def _configure_logging() -> None:
    """In each worker process (uvicorn starts them fresh): featurelake's own lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("featurelake.serve", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [handler]
        logger.propagate = False
