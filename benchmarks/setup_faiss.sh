#!/usr/bin/env bash
# The peer for the similarity benchmark: faiss-cpu's HNSW, in its own venv
# (benchmarks/.venv-faiss), never in featurelake's dependencies.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-faiss/bin/python ] || python3.11 -m venv .venv-faiss
.venv-faiss/bin/pip install -q "faiss-cpu==1.15.1" "numpy==2.4.6"
.venv-faiss/bin/python -c "import faiss; print('faiss', faiss.__version__)"
