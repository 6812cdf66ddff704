# The two commands of the quickstart are `make demo` and `make test`; both set up first.
VENV := .venv
BIN := $(VENV)/bin
LINTED := src tests jobs dags benchmarks scripts

.PHONY: setup test lint demo airflow lock clean

setup:
	@bash scripts/setup.sh

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# Two workers: most of a test's wall time is spent waiting on a subprocess (spark-submit, Airflow,
# the demo), so two share the 2-core machine well. Each worker builds its own session fixtures.
test: lint
	$(BIN)/pytest -n 2

demo: setup
	$(BIN)/featurelake demo --conf conf/local.yaml

# Airflow 3 on http://127.0.0.1:8080 with dags/ and conf/local.yaml (state under .featurelake/airflow).
airflow: setup
	$(BIN)/featurelake airflow --conf conf/local.yaml --dags dags

# Re-resolve pyproject's ranges into a scratch venv and pin the result in constraints.txt.
lock:
	rm -rf .featurelake/lock-venv && python3.11 -m venv .featurelake/lock-venv
	.featurelake/lock-venv/bin/pip install -q -e '.[dev]'
	{ head -2 constraints.txt; .featurelake/lock-venv/bin/pip freeze --exclude-editable | grep -iv '^featurelake'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf lake .featurelake/redis test-output
