"""A Spark standalone cluster on loopback: one master and one worker (`spark-class`; the pip
wheel has no sbin scripts). Executors of an application are sized by the caller's
`spark.executor.cores` / `spark.cores.max`, so one application can get two executor JVMs.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurelake.devservices.processes import spawn, stop, wait_until
from featurelake.online.redis_server import free_port


@dataclass
class SparkCluster:
    master_url: str
    web_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as answer:
            state: dict[str, Any] = json.loads(answer.read())
        return state

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)


def _spark_class() -> str:
    from featurelake.spark.jars import spark_home

    return str(spark_home() / "bin" / "spark-class")


def start_spark_cluster(work_dir: Path, cores: int = 2, memory: str = "3g", env: dict[str, str] | None = None,
                        timeout_s: float = 90.0) -> SparkCluster:  # fmt: skip
    """Master and worker on 127.0.0.1; `env` (e.g. the AWS variables) is what executors inherit."""
    port, web, worker_web = free_port(), free_port(), free_port()
    environment = {**os.environ, **(env or {}), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    master_log = work_dir / "logs" / "master.log"
    master = spawn([_spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(port), "--webui-port", str(web)], master_log, environment)  # fmt: skip
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", [master])
    try:
        wait_until(lambda: cluster.state().get("status") == "ALIVE", master, "Spark master", master_log, timeout_s)
        worker_log = work_dir / "logs" / "worker.log"
        worker = spawn([_spark_class(), "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                        "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                        "--work-dir", str(work_dir / "work"), "--webui-port", str(worker_web)],
                       worker_log, environment)  # fmt: skip
        cluster.processes.append(worker)
        wait_until(lambda: _alive_workers(cluster) >= 1, worker, "Spark worker", worker_log, timeout_s)
    except Exception:
        cluster.stop()
        raise
    return cluster


def _alive_workers(cluster: SparkCluster) -> int:
    return sum(1 for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE")
