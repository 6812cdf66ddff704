"""Airflow 3 as real services on 127.0.0.1: `featurelake airflow` (`make airflow`) and the
end-to-end test start them the same way.

Separate processes (api-server, scheduler, dag-processor, triggerer), each in its own
process group so stopping them leaves no orphans; SQLite metadata and logs under
`<state_dir>/airflow`; the dags folder is the project's dags/, the conf is the project's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError

COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTHY = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class AirflowStartError(FeaturelakeError):
    template = "Airflow did not become healthy in {seconds}s ({detail}); its logs are in {logs}"


def airflow_env(
    conf: FeaturelakeConfig, home: Path, dags_folder: Path, port: int, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment every Airflow component (and so every task) runs with."""
    env = dict(os.environ if base is None else base)
    master = conf.spark.master
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores: more workers only wait
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "FEATURELAKE_CONF": str(conf.source_file),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": master}))
    return env


@dataclass
class AirflowServices:
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Only the api-server serves the UI, the REST API and plugins (the catalog's tests need no scheduler).
    components: tuple[str, ...] = tuple(COMPONENTS)

    @property
    def url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def _airflow(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "airflow"), *args]

    def start(self, timeout_s: float = 120.0) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "db-migrate.log").open("wb") as log:
            subprocess.run(self._airflow("db", "migrate"), env=self.env, stdout=log, stderr=log, check=True)
        for name, args in ((n, COMPONENTS[n]) for n in self.components):
            with (self.logs / f"{name}.log").open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    self._airflow(*args), env=self.env, stdout=log, stderr=log, start_new_session=True
                )
        self.wait_healthy(timeout_s)

    def health(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
            data = json.loads(response.read())
        watched = HEALTHY if self.components == tuple(COMPONENTS) else ("metadatabase",)
        return {name: str(data.get(name, {}).get("status")) for name in watched}

    def wait_healthy(self, timeout_s: float) -> None:
        deadline, detail = time.monotonic() + timeout_s, "no answer yet"
        while time.monotonic() < deadline:
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                self.stop()
                raise AirflowStartError(seconds=int(timeout_s), detail=f"{', '.join(dead)} exited", logs=self.logs)
            try:
                status = self.health()
                if all(value == "healthy" for value in status.values()):
                    return
                detail = ", ".join(f"{k}={v}" for k, v in status.items())
            except OSError as exc:
                detail = type(exc).__name__
            time.sleep(1)
        self.stop()
        raise AirflowStartError(seconds=int(timeout_s), detail=detail, logs=self.logs)

    def stop(self, timeout_s: float = 20.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


def airflow_services(conf: FeaturelakeConfig, dags_folder: Path, port: int) -> AirflowServices:
    home = (conf.state_dir / "airflow").resolve()
    return AirflowServices(airflow_env(conf, home, dags_folder.resolve(), port), home / "service-logs")
