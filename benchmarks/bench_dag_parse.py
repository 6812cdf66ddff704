"""Parse time of dags/ for a registry of 200 feature views (plus the shipped 5).

    .venv/bin/python benchmarks/bench_dag_parse.py [--views 200]

The generated repo of bench_validate.py (200 views, 5 features each) is applied to a
scratch lake; then, in a fresh interpreter each time (as Airflow's dag-processor parses
a file in a fresh process, with Airflow itself already imported), `DagBag(dags/)` is
timed: both files (featurelake_dags.py, featurelake_dag_errors.py), every import they
make, every DAG built. Prints the median of 5 and Airflow's own per-file parse times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_validate import generated_repo

from featurelake.config import load_config
from featurelake.registry import compile_specs
from featurelake.registry.store import RegistryStore

REPO_ROOT = Path(__file__).resolve().parents[1]
PARSE = """
import json, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={dags!r})
seconds = time.perf_counter() - started
files = {{s.file.strip('/'): s.duration.total_seconds() for s in bag.dagbag_stats}}
errors = list(bag.import_errors.values())
print(json.dumps({{"seconds": seconds, "dags": len(bag.dag_ids), "errors": errors, "files": files}}))
"""


def parse_once(conf: Path, home: Path) -> dict[str, object]:
    env = {**os.environ, "FEATURELAKE_CONF": str(conf), "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}  # fmt: skip
    code = PARSE.format(dags=str(REPO_ROOT / "dags"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "conf").mkdir()
        conf = base / "conf" / "bench.yaml"
        conf.write_text(f"project: bench\nlake_root: {base / 'lake'}\n")
        config = load_config(conf, env={})
        registry = compile_specs(generated_repo(base, args.views), None)
        RegistryStore(config.lake_root).apply(registry.model_copy(update={"project": "bench"}), None)
        runs = [parse_once(conf, base / "airflow") for _ in range(5)]
    assert all(r["errors"] == [] and r["dags"] == args.views + 1 for r in runs), runs
    median = statistics.median(float(r["seconds"]) for r in runs)  # type: ignore[arg-type]
    print(f"DagBag of dags/ for {args.views} views ({args.views + 1} DAGs, 0 import errors): "
          f"{median:.2f} s (median of 5 fresh interpreters; Airflow imported before timing)")  # fmt: skip
    print(f"per file (Airflow's dagbag_stats, last run): {runs[-1]['files']}")


if __name__ == "__main__":
    main()
