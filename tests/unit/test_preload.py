"""The background import of Great Expectations loads every module the gate imports."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from featurelake.validation.preload import MODULES, start_imports, wait_for_imports
assert not any(m.startswith("great_expectations") for m in sys.modules)
start_imports()
start_imports()  # once per process
wait_for_imports()
missing = [m for m in MODULES if m not in sys.modules]
assert not missing, missing
"""


def test_the_background_import_loads_every_listed_module_in_a_fresh_process() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
