"""Import Great Expectations in a background thread while Spark reads the source.

Importing it costs 3-5 s of pure Python on this machine, and every gated run (a backfill
from the CLI, an Airflow task's spark-submit) is a fresh process that pays it. The driver
spends the first seconds of a backfill waiting on the JVM (reading and checking the source),
with the GIL released, so the import is hidden behind that wait instead of delaying the gate.

`wait_for_imports()` is called before any Great Expectations import in the main thread, so
one module graph is never imported by two threads at once.
"""

from __future__ import annotations

import importlib
import os
import threading

MODULES = (
    "great_expectations",
    "great_expectations.expectations",
    "great_expectations.expectations.core.unexpected_rows_expectation",
    "great_expectations.checkpoint.actions",
    "great_expectations.core.run_identifier",
    "great_expectations.data_context.types.base",
)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the main thread imports it again and reports the error
            return


def start_imports() -> None:
    """Start importing Great Expectations in the background (once per process)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, name="featurelake-preload", daemon=True)
            _thread.start()


def wait_for_imports() -> None:
    """Block until a background import started by `start_imports` is done (no-op otherwise)."""
    with _lock:
        thread = _thread
    if thread is not None:
        thread.join()
