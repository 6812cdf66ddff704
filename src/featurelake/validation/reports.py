"""Serving Data Docs on loopback (`featurelake reports --serve`)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from featurelake.errors import FeaturelakeError


class ReportsMissingError(FeaturelakeError):
    template = (
        "no Data Docs at {index} yet: they are built by the first `featurelake backfill`, `run` or `validate-data`"
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def reports_server(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for `folder` bound to 127.0.0.1 only (0: any free port)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)
