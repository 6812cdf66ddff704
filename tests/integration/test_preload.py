"""The background import of Great Expectations: it loads what the gate imports, and the main
thread imports nothing while it runs (two threads importing one module cycle can deadlock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A fresh interpreter: in the test session Great Expectations is already imported.
CHECK = """
import importlib.abc, sys, threading
from featurelake.config import load_config
from featurelake.spark.session import build_spark_session

seen = []

class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        seen.append((threading.current_thread().name, name))

spark = build_spark_session(load_config(sys.argv[1]), app_name="preload-test")
sys.meta_path.insert(0, Spy())
from pyspark.sql import functions as F
from featurelake.validation.preload import MODULES, start_imports, wait_for_imports

assert not any(m.startswith("great_expectations") for m in sys.modules)
start_imports()
start_imports()  # once per process
# What a backfill does before its gate: first DataFrames, a cache, aggregations.
frame = spark.range(1000).withColumn("day", F.expr("date_add(DATE'2025-01-01', CAST(id % 3 AS INT))")).persist()
frame.groupBy("day").agg(F.max("id"), F.count(F.lit(1))).collect()
frame.toPandas()
wait_for_imports()
background = [i for i, (thread, _) in enumerate(seen) if thread == "featurelake-preload"]
assert background, "nothing was imported in the background"
during = [n for i, (t, n) in enumerate(seen) if t == "MainThread" and background[0] <= i <= background[-1]]
assert not during, f"the main thread imported {during} while the background import ran"
missing = [m for m in MODULES if m not in sys.modules]
assert not missing, missing
spark.stop()
"""


def test_great_expectations_loads_in_the_background_while_the_main_thread_imports_nothing(
    test_conf_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(test_conf_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


# A fresh interpreter, where nothing has imported pandas yet (as in the CLI).
PANDAS = """
import importlib.abc, sys, threading

seen = []

class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        seen.append((threading.current_thread().name, name))

sys.meta_path.insert(0, Spy())
from featurelake.config import load_config
from featurelake.spark.session import build_spark_session

assert "pandas" not in sys.modules
spark = build_spark_session(load_config(sys.argv[1]), app_name="pandas-import-test")
assert ("featurelake-import-pandas", "pandas") in seen, "pandas was not imported while the JVM started"
assert spark.range(3).toPandas()["id"].tolist() == [0, 1, 2]
spark.stop()
"""


def test_pandas_is_imported_while_the_driver_jvm_starts(test_conf_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PANDAS, str(test_conf_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
