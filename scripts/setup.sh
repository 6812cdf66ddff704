#!/usr/bin/env bash
# make setup: everything featurelake needs on a fresh machine, idempotent and fast when done.
#   1. redis-server (Debian's package) when missing
#   2. .venv with the pinned dependency set (constraints.txt) and featurelake itself
#   3. Delta Lake's jars from Maven Central (once) + spark-defaults.conf for spark-submit
#   4. the web assets Data Docs pages load (from npm, once) and chromium for the e2e tests
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
STATE=.featurelake
mkdir -p "$STATE"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q "$@" >/dev/null
  }
}

need_system_package() { # binary package
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ]; then return 0; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $2 (apt-get)"
    apt_install "$2"
  else
    echo "setup: $1 is missing; install $2 with your package manager (macOS: brew install ${3:-$2})" >&2
    exit 1
  fi
}

need_system_package redis-server redis-server redis
need_system_package chromium chromium chromium
command -v npm >/dev/null 2>&1 || need_system_package npm npm node
command -v java >/dev/null 2>&1 || { echo "setup: Java 17 is required (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
command -v mvn >/dev/null 2>&1 || need_system_package mvn maven maven

stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/featurelake ] || [ "$(cat "$STATE/venv.stamp" 2>/dev/null)" != "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "setup: installing the pinned Python dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  echo "$stamp" > "$STATE/venv.stamp"
fi

# Fetches the jars only when the manifest does not match the pinned delta-spark.
.venv/bin/featurelake setup-jars --conf conf/local.yaml
.venv/bin/featurelake setup-assets --conf conf/local.yaml
