"""Airflow 3's real services on loopback run a generated view DAG triggered through the
REST API; the DAG's page is rendered by headless Chromium."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurelake.config import load_config
from featurelake.online.redis_server import free_port
from featurelake.orchestration.services import airflow_services

VIEW = "product_popularity"
DAG_ID = f"featurelake__{VIEW}"


def _api(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v2{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _wait(what: str, check: Any, timeout_s: float, every_s: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture()
def airflow(tmp_path: Path, make_test_conf, redis_server, repo_root: Path):  # type: ignore[no-untyped-def]
    from featurelake.demo_data import DatasetSize, generate
    from featurelake.registry import apply_specs

    specs = tmp_path / "feature_specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    spec = next(specs.rglob(f"{VIEW}.yaml"))  # offline: one spark-submit per run keeps CI short
    spec.write_text(spec.read_text().replace("online: true", "online: false"))
    config = load_config(
        make_test_conf(tmp_path, redis_server.url.replace("/0", "/3"), tmp_path / "lake", project="fle2e"), env={}
    )
    generate(
        config.lake_root, DatasetSize(users=40, products=15, days=4, start=datetime.now(UTC).date() - timedelta(days=4))
    )
    apply_specs(specs, config)
    services = airflow_services(config, repo_root / "dags", free_port())
    services.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    services.env["FEATURELAKE_DAG_RETRIES"] = "0"
    services.start()
    yield services, config
    services.stop()


def test_the_scheduler_runs_a_triggered_view_dag_and_the_ui_shows_it(airflow, chromium, output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    services, config = airflow
    base = services.url
    _wait(f"{DAG_ID} to be parsed", lambda: _api(base, "GET", f"/dags/{DAG_ID}")[0] == 200, 120)
    assert _api(base, "PATCH", f"/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    status, run = _api(base, "POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    assert status == 200, run

    def finished() -> str | None:
        state = _api(base, "GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}")[1]["state"]
        return state if state in {"success", "failed"} else None

    state = _wait("the DAG run to finish", finished, 420, every_s=3)
    tasks = _api(base, "GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")[1]["task_instances"]
    assert state == "success", {t["task_id"]: t["state"] for t in tasks}
    assert {t["task_id"]: t["state"] for t in tasks} == dict.fromkeys(
        ["compute", "validation_gate", "check_freshness"], "success"
    )
    # Triggered without a logical date: the DAG computes the last complete interval.
    day = datetime.now(UTC).date() - timedelta(days=1)
    assert Path(config.lake_root, "_validation", "runs", VIEW, "v1", f"{day}_{day}.json").is_file()

    page = f"{base}/dags/{DAG_ID}"
    assert DAG_ID in chromium.dom(page, budget_ms=15_000)
    shot = chromium.screenshot(page, output_dir / "airflow_dag_page.png", size="1400,900", budget_ms=15_000)
    assert shot.stat().st_size > 20_000, "a rendered page, not a blank one"
