"""Import Great Expectations in a background thread while Spark reads the source.

Importing it costs 3-5 s of pure Python on this machine, and every gated run (a backfill
from the CLI, an Airflow task's spark-submit) is a fresh process that pays it. The driver
spends the first seconds of a backfill waiting on the JVM (reading and checking the source),
with the GIL released, so the import is hidden behind that wait instead of delaying the gate.

Two threads importing one cycle of modules at once can deadlock. So `wait_for_imports()`
is called before any Great Expectations import in the main thread, and the pyspark modules
both threads need (the main thread's first DataFrames import them lazily) are imported by
the main thread before the background one starts. tests/integration/test_preload.py checks that
the main thread imports nothing while the background import runs.
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

# Imported lazily by pyspark when a session makes its first DataFrames, and by Great
# Expectations' pyspark compatibility module: imported first, in the calling thread.
SHARED = (
    "pyspark.sql.classic.dataframe",
    "pyspark.sql.classic.column",
    "pyspark.sql.pandas.map_ops",
    # Loaded lazily by the main thread's first toPandas (Arrow) and by host-name encoding
    # (idna), and by Great Expectations' imports too; seen racing once drivers started
    # ~2 s sooner with the class-data-sharing archive.
    "pyarrow.pandas_compat",
    "pyarrow.vendored.version",
    "encodings.idna",
    "stringprep",
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
            for name in SHARED:
                importlib.import_module(name)
            _thread = threading.Thread(target=_import_all, name="featurelake-preload", daemon=True)
            _thread.start()


def wait_for_imports() -> None:
    """Block until a background import started by `start_imports` is done (no-op otherwise)."""
    with _lock:
        thread = _thread
    if thread is not None:
        thread.join()
