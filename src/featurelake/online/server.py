"""`featurelake serve`: an HTTP feature server on 127.0.0.1, the same read path as the Python API.

POST /get-online-features {"features": [...], "entities": {"user_id": [1, 2]}} or
{"feature_service": "...", "entity_rows": [{"user_id": 1}]} -> {"user_id": [...], "spend_30d": [...]};
embeddings are JSON lists. GET /openapi.json describes it; GET /health answers ok.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from featurelake.errors import FeaturelakeError
from featurelake.online.reader import OnlineReader
from featurelake.registry.model import Registry

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "featurelake feature server", "version": "1"},
    "paths": {
        "/get-online-features": {
            "post": {
                "summary": "Newest feature values of entities (one Redis round trip)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "features": {"type": "array", "items": {"type": "string"}, "description": "view:feature"},
                        "feature_service": {"type": "string"},
                        "entities": {"type": "object", "additionalProperties": {"type": "array"},
                                     "description": "join key -> values (columnar, like Feast)"},
                        "entity_rows": {"type": "array", "items": {"type": "object"}},
                        "full_feature_names": {"type": "boolean", "default": False},
                    },
                }}}},
                "responses": {
                    "200": {"description": "column -> values, one per entity",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": {"description": "bad request: {\"error\": message}"},
                },
            }
        },
        "/health": {"get": {"summary": "ok when the server runs", "responses": {"200": {"description": "ok"}}}},
    },
}  # fmt: skip


class BadRequestError(FeaturelakeError):
    template = "{problem}"


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "entity_rows" in body:
        return list(body["entity_rows"])
    columns = body.get("entities") or {}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise BadRequestError(problem="all lists in `entities` must have the same length")
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def answer(reader: OnlineReader, registry: Registry, body: dict[str, Any]) -> dict[str, list[Any]]:
    """The response of one request (also what the tests call)."""
    refs = registry.service_refs(body["feature_service"]) if body.get("feature_service") else []
    refs += registry.resolve_refs(body.get("features") or [])
    if not refs:
        raise BadRequestError(problem="give `features` (view:feature refs) or a `feature_service`")
    result = reader.get(refs, _rows(body), bool(body.get("full_feature_names"))).to_dict()
    return {name: [_plain(v) for v in values] for name, values in result.items()}


def feature_server(reader: OnlineReader, registry: Registry, port: int = 0) -> ThreadingHTTPServer:
    """Bound to 127.0.0.1 only (0: any free port). Redis clients are thread-safe (a pool)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/openapi.json":
                self._send(200, OPENAPI)
            elif self.path == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": f"no {self.path}; see /openapi.json"})

        def do_POST(self) -> None:
            if self.path != "/get-online-features":
                self._send(404, {"error": f"no {self.path}; see /openapi.json"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                self._send(200, answer(reader, registry, json.loads(self.rfile.read(length) or b"{}")))
            except (FeaturelakeError, ValueError, TypeError, KeyError) as exc:
                self._send(400, {"error": str(exc)})

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
