"""Redis over TLS: a real redis-server with a TLS-only port and a certificate signed by a
CA made for the test; featurelake connects with `redis.tls` + `redis.tls_ca_cert` (and a
password from the environment), writes through the executors' newer-wins path and reads
back; a client that does not trust the CA gets a clear TLS error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from featurelake.config import load_config
from featurelake.errors import RedisTlsError, RedisUnavailableError
from featurelake.online.codec import ViewCodec
from featurelake.online.redis_server import (
    RedisServer,
    ServerTls,
    connect,
    free_port,
    redis_settings,
    start_redis_server,
)
from featurelake.online.writer import WriteSpec, partition_writer

PASSWORD = "tls-test-secret"


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, make_tls_files
) -> Iterator[tuple[RedisServer, ServerTls, Path]]:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("redis-tls")
    files = make_tls_files(base, "featurelake-test")
    server = start_redis_server(base / "data", port=free_port(), appendonly=False, password=PASSWORD, tls=files)
    try:
        yield server, files, base
    finally:
        server.stop()


def _conf(base: Path, server: RedisServer, tls: bool, ca: Path | None):  # type: ignore[no-untyped-def]
    lines = [f"redis:\n  url: redis://{server.host}:{server.port}/0\n  password: ${{FL_TLS_TEST_PASSWORD}}\n"]
    lines.append(f"  tls: {'true' if tls else 'false'}\n")
    if ca:
        lines.append(f"  tls_ca_cert: {ca}\n")
    path = base / f"conf-{tls}-{ca.stem if ca else 'none'}.yaml"
    path.write_text(f"project: tlstest\nlake_root: {base / 'lake'}\n" + "".join(lines))
    return load_config(path, env={"FL_TLS_TEST_PASSWORD": PASSWORD})


def test_materialization_writes_and_reads_work_over_tls(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, files, base = tls_server
    conf = _conf(base, server, tls=True, ca=files.ca_cert)
    assert redis_settings(conf).url.startswith("rediss://")
    codec = ViewCodec(("score",), ("double",))
    batch = pa.record_batch({"user_id": list(range(100)), "_event_us": [10**12] * 100, "_created_us": [1] * 100,
                             "score": [i / 2 for i in range(100)]})  # fmt: skip
    writer = partition_writer(redis_settings(conf), WriteSpec("tlstest:v:v1:", ("user_id",), codec, 60_000))
    result = next(iter(writer(iter([batch]))))
    assert result.to_pydict() == {"rows": [100], "written": [100], "max_event_us": [10**12]}
    client = connect(conf)
    assert codec.decode(client.get("tlstest:v:v1:42")) == [21.0]  # type: ignore[arg-type]
    assert 0 < client.pttl("tlstest:v:v1:42") <= 60_000


def test_a_ca_that_did_not_sign_the_server_is_a_clear_tls_error(tls_server, make_tls_files) -> None:  # type: ignore[no-untyped-def]
    server, _, base = tls_server
    other = make_tls_files(base, "someone-else")
    with pytest.raises(RedisTlsError, match="certificate verify failed") as error:
        connect(_conf(base, server, tls=True, ca=other.ca_cert))
    assert "redis.tls_ca_cert" in str(error.value) and PASSWORD not in str(error.value)


def test_plain_text_to_a_tls_port_is_a_clear_error(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, _, base = tls_server
    with pytest.raises(RedisUnavailableError, match=f"cannot reach Redis at redis://127.0.0.1:{server.port}"):
        connect(_conf(base, server, tls=False, ca=None))
