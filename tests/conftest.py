"""Shared fixtures: one SparkSession and one real redis-server per test session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.devservices import S3Server, SparkCluster, start_s3_server, start_spark_cluster
from featurelake.online.redis_server import RedisServer, free_port, start_redis_server

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = BIN = Path(sys.executable).parent

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Airflow reads its settings when first imported: a throwaway home (SQLite) for the session.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="featurelake-airflow-")
os.environ.update(
    {
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="reliability tests: many more fault injections")


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--soak"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Artifacts a person may want to look at after the run (screenshots, reports)."""
    path = REPO_ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path


def write_test_conf(directory: Path, redis_url: str, lake_root: Path, project: str = "fltest") -> Path:
    """A conf for a test's own lake; tests that share the Redis server with other lakes
    pass their own `project`, so their keys and watermarks never meet."""
    conf_dir = directory / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "test.yaml"
    path.write_text(
        f"""project: {project}
lake_root: {lake_root}
state_dir: {directory / "state"}
web_assets_dir: {REPO_ROOT / ".featurelake" / "web-assets"}
spark:
  master: local[2]
  jars_dir: {REPO_ROOT / ".featurelake" / "jars"}
  settings:
    spark.sql.shuffle.partitions: "2"
    spark.default.parallelism: "2"
    spark.ui.enabled: "false"
    spark.ui.showConsoleProgress: "false"
    spark.driver.memory: 2g
redis:
  url: {redis_url}
  embedded: false
"""
    )
    return path


@pytest.fixture(scope="session")
def make_test_conf():  # type: ignore[no-untyped-def]
    """write_test_conf(directory, redis_url, lake_root, project) -> conf path, for tests that need their own lake."""
    return write_test_conf


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for the whole test session."""
    server = start_redis_server(tmp_path_factory.mktemp("redis"), port=free_port())
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_conf_path(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Path:
    base = tmp_path_factory.mktemp("project")
    return write_test_conf(base, redis_server.url, base / "lake")


@pytest.fixture(scope="session")
def test_conf(test_conf_path: Path) -> FeaturelakeConfig:
    return load_config(test_conf_path, env={})


# An S3-style secret and a Redis password the tests give through the environment only: they
# must never be written anywhere (logs, registry, Data Docs, metadata, Airflow task logs,
# reports). `no_secret_in_any_file` scans every file the session produced for both.
S3_SECRET = "flsecret-" + os.urandom(8).hex()
REDIS_SECRET = "flredis-" + os.urandom(8).hex()
SECRETS = (S3_SECRET.encode(), REDIS_SECRET.encode())
# A password-protected redis-server must be told its password: its own 0600 config file.
SECRET_ALLOWED_IN = {"redis.conf"}


@pytest.fixture(scope="session")
def redis_secret() -> str:
    """The Redis password tests give by FEATURELAKE_REDIS_PASSWORD (scanned for like S3_SECRET)."""
    return REDIS_SECRET


def files_holding_a_secret(roots: list[Path]) -> list[str]:
    leaked = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name not in SECRET_ALLOWED_IN:
                data = path.read_bytes()
                leaked += [f"{path}: {s.decode()[:9]}..." for s in SECRETS if s in data]
    return leaked


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole session: every file any test produced (lakes, state, Spark and Airflow
    logs, Data Docs, screenshots, reports) is free of both secrets. A leak fails the run as
    an error at the teardown of the last test. Objects in the S3 server are scanned when it stops."""
    yield
    roots = [tmp_path_factory.getbasetemp(), Path(os.environ["AIRFLOW_HOME"]), REPO_ROOT / "test-output"]
    leaked = files_holding_a_secret([r for r in roots if r.exists()])
    assert leaked == [], f"secrets written to files: {leaked[:20]}"


def objects_holding_a_secret(server: S3Server) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=server.endpoint_url)
    leaked = []
    for bucket in client.list_buckets()["Buckets"]:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for item in page.get("Contents", []):
                data = client.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
                leaked += [f"s3://{bucket['Name']}/{item['Key']}" for s in SECRETS if s in data]
    return leaked


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 API server on a free loopback port; the AWS environment points at it, so the
    session's Spark (s3a), boto3 and every subprocess reach it the way a user's would."""
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    os.environ.update(server.environment("featurelake-test", S3_SECRET))
    server.create_bucket("lake")
    yield server
    try:
        leaked = objects_holding_a_secret(server)
    finally:
        server.stop()
    assert leaked == [], f"secrets written to S3 objects: {leaked[:20]}"


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[SparkCluster]:
    """A Spark standalone master + worker (2 cores) on loopback; executors inherit the AWS environment."""
    cluster = start_spark_cluster(tmp_path_factory.mktemp("spark-cluster"), cores=2, memory="3g",
                                  env=s3_server.environment("featurelake-test", S3_SECRET))  # fmt: skip
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def spark(test_conf: FeaturelakeConfig, s3_server: S3Server):  # type: ignore[no-untyped-def]
    from featurelake.spark.session import build_spark_session

    session = build_spark_session(test_conf, app_name="featurelake-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def demo_lake(test_conf: FeaturelakeConfig, repo_root: Path):  # type: ignore[no-untyped-def]
    """The test environment's lake with a small generated dataset and the shipped specs applied."""
    from featurelake.demo_data import DatasetSize, generate
    from featurelake.registry import apply_specs, load_registry

    size = DatasetSize(users=200, products=50, days=20)
    generate(test_conf.lake_root, size)
    apply_specs(repo_root / "feature_specs", test_conf)
    return load_registry(test_conf), size


class WebhookReceiver:
    """A local HTTP server that keeps every JSON body POSTed to it (alert webhooks)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # A token in the URL, as real webhook URLs have: it must never reach a log.
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=s3cret"


@pytest.fixture()
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


@dataclass(frozen=True)
class DemoProject:
    root: Path  # a project folder: conf/local.yaml, feature_specs and jobs linked from the repo
    conf: Path
    lake: Path
    stdout: str


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory, redis_server, make_test_conf) -> DemoProject:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("demo-project")
    written = make_test_conf(root, redis_server.url.replace("/0", "/1"), root / "lake", project="fldemo")
    conf = written.with_name("local.yaml")
    shutil.move(written, conf)
    for folder in ("feature_specs", "jobs", "dags"):
        (root / folder).symlink_to(REPO_ROOT / folder)
    proc = subprocess.run(
        [str(BIN / "featurelake"), "demo", "--conf", str(conf), "--users", "300", "--days", "21"],
        cwd=root, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"the demo failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    import pandas as pd

    labels = pd.read_parquet(root / "lake" / "labels" / "churn.parquet")
    labels.to_parquet(root / "labels.parquet")
    labels.to_csv(root / "labels.csv", index=False)
    return DemoProject(root, conf, root / "lake", proc.stdout)
