#!/usr/bin/env bash
# The peer for the training-set benchmark: Feast 0.67 with its Spark offline store, in its own
# venv (benchmarks/.venv-feast), never in featurelake's dependencies.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-feast/bin/python ] || python3.11 -m venv .venv-feast
.venv-feast/bin/pip install -q "feast[spark,redis]==0.67.0" "pyspark==4.2.0" "pandas<3"
.venv-feast/bin/python -c "import feast; print('feast', feast.__version__)"
