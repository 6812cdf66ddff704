"""`featurelake serve` as a real process (uvicorn workers) against a real redis-server: the
same answers as the Python API, auth and TLS, limits, Redis faults, registry reload and a
shutdown under load. No Spark: values are written by the executors' writer from Arrow."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.online.codec import ViewCodec
from featurelake.online.keys import view_prefix
from featurelake.online.reader import OnlineReader
from featurelake.online.redis_server import RedisServer, connect, free_port, redis_settings, start_redis_server
from featurelake.online.writer import WriteSpec, partition_writer
from featurelake.registry import apply_specs, load_registry
from featurelake.serving.settings import TOKENS_ENV

BIN = Path(sys.executable).parent
FEATURES = ["user_stats:spend_30d", "user_stats:account_age_days", "user_embedding:behaviour_embedding"]
USERS = 40
TOKENS = ("tok-old-" + os.urandom(6).hex(), "tok-new-" + os.urandom(6).hex())


@dataclass
class Lake:
    conf_path: Path
    conf: FeaturelakeConfig
    redis: RedisServer


@pytest.fixture(scope="module")
def lake(tmp_path_factory, make_test_conf, repo_root) -> Iterator[Lake]:  # type: ignore[no-untyped-def]
    """Its own redis-server (the fault tests stop it) and a lake with the specs applied."""
    base = tmp_path_factory.mktemp("serve")
    server = start_redis_server(base / "redis", port=free_port(), appendonly=False)
    conf_path = make_test_conf(base, f"redis://127.0.0.1:{server.port}/0", base / "lake", project="flserve")
    conf = load_config(conf_path, env={})
    apply_specs(repo_root / "feature_specs", conf)
    _write_values(conf)
    try:
        yield Lake(conf_path, conf, server)
    finally:
        server.stop()


def _write_values(conf: FeaturelakeConfig) -> None:
    registry = load_registry(conf)
    for name, columns in {
        "user_stats": {"spend_30d": [u * 1.5 for u in range(USERS)], "account_age_days": list(range(USERS))},
        "user_embedding": {"behaviour_embedding": [[u / 10] * 16 for u in range(USERS)]},
    }.items():
        view = registry.view(name)
        full = {f.name: columns.get(f.name, [None] * USERS) for f in view.features}
        batch = pa.record_batch({"user_id": list(range(USERS)), "_event_us": [10**15] * USERS,
                                 "_created_us": [1] * USERS, **full})  # fmt: skip
        spec = WriteSpec(view_prefix(registry.project, name, view.version), ("user_id",), ViewCodec.for_view(view), 0)
        assert next(iter(partition_writer(redis_settings(conf), spec)(iter([batch])))).to_pydict()["rows"] == [USERS]


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, tls: ssl.SSLContext | None) -> None:
        self.proc, self.port, self.tls = proc, port, tls
        self.stderr: list[str] = []
        self._drain: threading.Thread | None = None

    def drain_stderr(self) -> None:
        """Read stderr while serving, as a log collector does (a full pipe would hold the writer)."""
        assert self.proc.stderr is not None
        stream = self.proc.stderr
        self._drain = threading.Thread(target=lambda: self.stderr.extend(stream), daemon=True)
        self._drain.start()

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        if self._drain:
            self._drain.join(timeout=30)
        return code, "".join(self.stderr)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                raw: bytes | None = None, timeout: float = 10) -> tuple[int, Any, float]:  # fmt: skip
        """(status, JSON or text body, seconds) over a new connection."""
        conn: http.client.HTTPConnection
        if self.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        started = time.monotonic()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        kind = response.getheader("content-type") or ""
        return response.status, json.loads(text) if "json" in kind else text, time.monotonic() - started

    def post(self, body: Any, token: str | None = None) -> tuple[int, Any]:
        status, payload, _ = self.request("POST", "/get-online-features", body, token)
        return status, payload


def _serve(lake: Lake, *args: str, env: dict[str, str] | None = None, tls: ssl.SSLContext | None = None) -> Served:
    port = free_port()
    argv = [str(BIN / "featurelake"), "serve", "--port", str(port), "--conf", str(lake.conf_path), *args]
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    served = Served(proc, port, tls)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if served.request("GET", "/health", timeout=2)[0] == 200:
                served.drain_stderr()
                return served
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the server did not come up: {proc.communicate()[1][-3000:]}")


def _stop(served: Served) -> tuple[int, str]:
    return served.stop()


def test_answers_like_the_python_api_and_every_bad_request_is_a_400_that_leaves_it_serving(lake: Lake) -> None:
    served = _serve(lake, "--workers", "2", "--max-entities", "50", "--max-body-bytes", "4000")
    try:
        users = [0, 7, 39, 1000]  # 1000: never written -> defaults
        status, got = served.post({"features": FEATURES, "entities": {"user_id": users}})
        registry = load_registry(lake.conf)
        want = OnlineReader(connect(lake.conf), registry).get(
            registry.resolve_refs(FEATURES), [{"user_id": u} for u in users]
        )
        want_columns = want.to_dict()
        assert status == 200 and got["user_id"] == users
        assert got["spend_30d"] == want_columns["spend_30d"] == [0.0, 10.5, 58.5, None]
        assert got["account_age_days"] == want_columns["account_age_days"]
        assert got["behaviour_embedding"][:3] == [list(map(float, v)) for v in want_columns["behaviour_embedding"][:3]]
        assert got["behaviour_embedding"][3] is None
        rows_status, by_rows = served.post({"features": FEATURES, "entity_rows": [{"user_id": u} for u in users]})
        assert rows_status == 200 and by_rows == got
        mgets = _mget_calls(connect(lake.conf))
        batch_status, batch = served.post({"features": FEATURES, "entities": {"user_id": list(range(USERS))}})
        assert batch_status == 200 and batch["account_age_days"] == list(range(USERS))
        assert _mget_calls(connect(lake.conf)) == mgets + 1, "40 entities of 2 views: one round trip"

        bad = {
            "unknown feature": {"features": ["user_stats:nope"], "entities": {"user_id": [1]}},
            "unknown view": {"features": ["nope:x"], "entities": {"user_id": [1]}},
            "wrong type": {"features": FEATURES, "entities": {"user_id": "7"}},
            "unknown key": {"features": FEATURES, "entities": {"user_id": [1]}, "limit": 3},
            "no features": {"entities": {"user_id": [1]}},
            "missing join key": {"features": FEATURES, "entity_rows": [{"account": 1}]},
            "ragged columns": {"features": FEATURES, "entities": {"user_id": [1, 2], "x": [1]}},
            "too many entities": {"features": FEATURES, "entities": {"user_id": list(range(51))}},
        }
        for case, body in bad.items():
            status, payload = served.post(body)
            assert status == 400 and payload["error"], case
        assert served.request("POST", "/get-online-features", raw=b"{not json")[0] == 400
        assert served.request("POST", "/get-online-features", raw=b"{" + b" " * 5000 + b"}")[0] == 413
        assert _slow_body_status(served.port) == 408
        assert served.post({"features": FEATURES, "entities": {"user_id": [7]}})[1]["spend_30d"] == [10.5]

        spec = served.request("GET", "/openapi.json")[1]
        body_schema = spec["paths"]["/get-online-features"]["post"]["requestBody"]["content"]["application/json"]
        assert {"features", "entities", "entity_rows", "feature_service"} <= set(body_schema["schema"]["properties"])
        assert {"400", "401", "413", "503"} <= set(spec["paths"]["/get-online-features"]["post"]["responses"])
        assert served.request("GET", "/ready")[1] == {"status": "ready", "registry_version": 1, "redis": "ok"}
        metrics = served.request("GET", "/metrics")[1]
        assert 'featurelake_requests_total{endpoint="/get-online-features",status="400"}' in metrics
        assert "featurelake_redis_seconds_bucket" in metrics and "featurelake_entities_per_request" in metrics
        assert 'featurelake_requests_total{endpoint="/ready",status="200"}' in metrics
    finally:
        code, stderr = _stop(served)
    assert code == 0, stderr[-2000:]
    access = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert {r["status"] for r in access} >= {200, 400, 413} and all("ms" in r for r in access)


def test_a_public_bind_needs_tls_and_tokens_and_a_request_without_a_valid_token_never_reaches_redis(
    lake: Lake, tmp_path: Path, make_tls_files
) -> None:  # type: ignore[no-untyped-def]
    refused = subprocess.run([str(BIN / "featurelake"), "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                              "--conf", str(lake.conf_path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "needs TLS and tokens" in refused.stderr

    files = make_tls_files(tmp_path, "serve")
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# rotated weekly\n{TOKENS[1]}\n")
    client_tls = ssl.create_default_context(cafile=str(files.ca_cert))
    served = _serve(lake, "--host", "0.0.0.0", "--tls-cert", str(files.cert), "--tls-key", str(files.key),
                    "--token-file", str(token_file), env={TOKENS_ENV: TOKENS[0]}, tls=client_tls)  # fmt: skip
    body = {"features": FEATURES, "entities": {"user_id": [3]}}
    try:
        redis_client = connect(lake.conf)
        calls_before = _mget_calls(redis_client)
        for token in (None, "wrong", TOKENS[0][:-1], TOKENS[0] + "x"):
            status, payload = served.post(body, token)
            assert status == 401 and "Bearer" in payload["error"]
        assert served.request("GET", "/metrics")[0] == 401
        assert _mget_calls(redis_client) == calls_before, "a refused request reached Redis"
        for token in TOKENS:  # both while one is rotated out
            assert served.post(body, token) == (200, served.post(body, TOKENS[0])[1])
        with pytest.raises(ssl.SSLError):  # a client that does not trust the CA
            Served(served.proc, served.port, ssl.create_default_context()).post(body, TOKENS[0])
    finally:
        code, stderr = _stop(served)
    assert code == 0
    assert not any(token in stderr for token in TOKENS), "a token reached the logs"


def _slow_body_status(port: int) -> int:
    """A client that announces 100 bytes of body and sends 10: answered 408 after the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"features\"")  # fmt: skip
        return int(sock.recv(200).split(b" ")[1])


def _mget_calls(client: Any) -> int:
    return int(client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))


def test_redis_down_is_a_quick_503_and_the_server_recovers_when_it_returns(lake: Lake) -> None:
    served = _serve(lake, "--timeout-s", "0.5")
    body = {"features": FEATURES, "entities": {"user_id": [5]}}
    try:
        assert served.post(body)[0] == 200
        lake.redis.stop()
        for _ in range(3):
            status, payload, seconds = served.request("POST", "/get-online-features", body)
            assert status == 503 and "Redis" in payload["error"]
            assert seconds < 5, "a read while Redis is down must not hang"
        assert served.request("GET", "/ready")[0] == 503
        assert served.request("GET", "/health")[0] == 200
    finally:
        restarted = start_redis_server(lake.redis.data_dir, port=lake.redis.port, appendonly=False)
        lake.redis = restarted
        _write_values(lake.conf)
    try:
        deadline = time.monotonic() + 20
        while served.post(body)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        status, payload = served.post(body)
        assert status == 200 and payload["spend_30d"] == [7.5]
    finally:
        assert _stop(served)[0] == 0


def test_a_newly_applied_registry_is_served_without_a_restart(lake: Lake, tmp_path: Path, repo_root: Path) -> None:
    base = tmp_path / "project"
    conf_path = Path(str(lake.conf_path).replace("conf/test.yaml", "conf/reload.yaml"))
    conf_path.write_text(lake.conf_path.read_text().replace(str(lake.conf.lake_root), str(base / "lake")))
    conf = load_config(conf_path, env={})
    specs = base / "feature_specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    apply_specs(specs, conf)
    served = _serve(Lake(conf_path, conf, lake.redis), "--registry-refresh-s", "0.3", "--workers", "2")
    try:
        assert served.request("GET", "/ready")[1]["registry_version"] == 1
        spec = next(specs.rglob("user_stats.yaml"))
        spec.write_text(spec.read_text().replace("tags: [risk]", "tags: [risk, reloaded]", 1))
        apply_specs(specs, conf)
        deadline = time.monotonic() + 20
        seen = set()
        while time.monotonic() < deadline and seen != {2}:
            seen = {served.request("GET", "/ready")[1]["registry_version"] for _ in range(6)}  # both workers
            time.sleep(0.2)
        assert seen == {2}
    finally:
        assert _stop(served)[0] == 0


def test_a_shutdown_under_load_fails_no_request_in_flight(lake: Lake) -> None:
    """SIGTERM while 6 clients hammer 2 workers: every request a worker took is answered in full
    (its access line says 200 and the client got that 200). Connections still queued in the
    kernel when the listener closes are refused or reset unserved: a load balancer takes the
    instance out (/ready) before stopping it, see docs/serving.md."""
    served = _serve(lake, "--workers", "2")
    body = {"features": FEATURES, "entities": {"user_id": list(range(USERS))}}
    outcomes: dict[str, int] = {"ok": 0, "not served": 0, "bad status": 0}
    bad: list[tuple[int, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, payload = served.post(body)
                kind = "ok" if status == 200 else "bad status"
                if status != 200:
                    bad.append((status, payload))
            except OSError:  # refused, or reset from the accept queue
                kind = "not served"
                stop.wait(0.05)
            with lock:
                outcomes[kind] += 1

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(2)
    before = outcomes["ok"]
    code, stderr = _stop(served)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert code == 0, stderr[-2000:]
    answered = [json.loads(line)["status"] for line in stderr.splitlines() if line.startswith('{"method": "POST"')]
    assert before > 20 and outcomes["bad status"] == 0, (outcomes, bad[:3])
    assert set(answered) == {200} and len(answered) == outcomes["ok"], (len(answered), outcomes)


def _publish_embedding_index(conf: FeaturelakeConfig, first_user: int, delta_version: int) -> str:
    """An index of user_embedding:behaviour_embedding over users first_user.. (clustered vectors)."""
    import numpy as np

    from featurelake.similarity import indexed_feature
    from featurelake.similarity.build import build_index, new_index_id
    from featurelake.similarity.files import index_root, publish

    registry = load_registry(conf)
    _, spec = indexed_feature(registry, "user_embedding:behaviour_embedding")
    rng = np.random.default_rng(delta_version)
    vectors = (rng.normal(size=(8, 16))[rng.integers(0, 8, 500)] + 0.2 * rng.normal(size=(500, 16))).astype("float32")
    root = index_root(conf.lake_root, "user_embedding", 1, "behaviour_embedding")
    index_id = new_index_id(delta_version)
    folder = Path(root) / index_id
    users = {"user_id": list(range(first_user, first_user + 500))}
    present, event_us = np.ones(500, dtype=bool), np.full(500, 10**15)
    manifest = build_index("user_embedding:behaviour_embedding", spec, users, vectors, present, event_us,
                           delta_version, 1, 7 * 86400, folder, index_id)  # fmt: skip
    assert publish(root, folder, manifest)
    return index_id


def test_similar_answers_like_the_python_api_and_swaps_versions_under_load(lake: Lake) -> None:
    from featurelake.store import FeatureStore

    first = _publish_embedding_index(lake.conf, first_user=0, delta_version=1)
    served = _serve(lake, "--workers", "2", "--registry-refresh-s", "0.3")
    try:
        query = {"feature": "user_embedding:behaviour_embedding", "entity": {"user_id": 7}, "k": 5,
                 "features": ["user_stats:spend_30d"]}  # fmt: skip
        status, got, _ = served.request("POST", "/similar", query)
        want = FeatureStore(conf=lake.conf).find_similar(**query).to_dict()
        assert status == 200 and got == json.loads(json.dumps(want)) and got["index_id"] == first
        assert len(got["neighbours"]) == 5 and all("spend_30d" in n["features"] for n in got["neighbours"])
        bad = {
            "wrong length": {"feature": query["feature"], "vector": [0.1] * 3},
            "k zero": {**query, "k": 0},
            "k too big": {**query, "k": 5000},
            "unknown entity": {**query, "entity": {"user_id": 10**9}},
            "not indexed": {**query, "feature": "user_stats:spend_30d"},
            "unknown feature": {**query, "feature": "user_embedding:nope"},
            "entity and vector": {**query, "vector": [0.1] * 16},
            "bad filter": {**query, "filter": {"user_stats:spend_30d": {"near": 1}}},
            "unknown key": {**query, "top": 3},
        }
        for case, body in bad.items():
            status, payload, _ = served.request("POST", "/similar", body)
            assert status == 400 and payload["error"], case
        nan = b'{"feature": "user_embedding:behaviour_embedding", "vector": [' + b"NaN, " * 15 + b"1.0]}"
        assert served.request("POST", "/similar", raw=nan)[0] == 400
        spec = served.request("GET", "/openapi.json")[1]
        assert (
            "vector"
            in spec["paths"]["/similar"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
        )

        answers: list[tuple[int, str, list[int]]] = []
        stop = threading.Event()

        def client() -> None:  # about 200 requests/s over 4 clients
            while not stop.is_set():
                status, body, _ = served.request("POST", "/similar", {"feature": query["feature"],
                                                                      "vector": [0.3] * 16, "k": 5})  # fmt: skip
                answers.append(
                    (status, body.get("index_id", ""), [n["entity"]["user_id"] for n in body.get("neighbours", [])])
                )
                time.sleep(0.02)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        second = _publish_embedding_index(lake.conf, first_user=5000, delta_version=2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(a[1] == second for a in answers[-20:]) < 20:
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
        assert {a[0] for a in answers} == {200}, "no request fails during a swap"
        assert {a[1] for a in answers} == {first, second}
        for _, index_id, users in answers:  # never a mix: each answer holds only its version's users
            assert len(users) == 5 and all((u >= 5000) == (index_id == second) for u in users)
        metrics = served.request("GET", "/metrics")[1]
        assert 'featurelake_requests_total{endpoint="/similar",status="200"}' in metrics
    finally:
        assert _stop(served)[0] == 0
