"""Start the feature server under uvicorn: workers, TLS, graceful shutdown, metrics folder."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import replace

from featurelake.config import load_config
from featurelake.registry import load_registry
from featurelake.serving.metrics import MULTIPROC_ENV
from featurelake.serving.settings import SETTINGS_ENV, ServeSettings

# In-flight requests get this long to finish after SIGTERM / Ctrl-C.
GRACEFUL_SHUTDOWN_S = 30


def check_before_start(settings: ServeSettings) -> None:
    """Fail in the foreground, with a typed error, on what would make every worker fail."""
    settings.check()
    load_registry(load_config(settings.conf))  # NothingAppliedError, bad conf


def run_server(settings: ServeSettings, say: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM / Ctrl-C (blocks); requests in flight finish first. `say` runs once
    the settings, conf and registry passed their checks."""
    import uvicorn

    check_before_start(settings)
    if say:
        say()
    metrics_dir = tempfile.mkdtemp(prefix="featurelake-metrics-")
    settings = replace(settings, metrics_dir=metrics_dir)
    # Read by prometheus_client when a worker imports it, and by the workers' app factory.
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[SETTINGS_ENV] = settings.to_env()
    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then raises the signal again for
    # whoever called it; here that is the end of a normal stop (exit 0), not a crash.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            "featurelake.serving.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            loop="uvloop",
            http="httptools",
            access_log=False,  # ours is structured and never carries headers (tokens)
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            log_config=None,
        )
    except (_StoppedError, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _StoppedError(Exception):
    """SIGTERM, after uvicorn's graceful shutdown."""


def _stopped(signum: int, frame: object) -> None:
    raise _StoppedError
