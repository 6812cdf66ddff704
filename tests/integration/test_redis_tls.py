"""Redis over TLS: a real redis-server with a TLS-only port and a certificate signed by a
CA made for the test; featurelake connects with `redis.tls` + `redis.tls_ca_cert` (and a
password from the environment), writes through the executors' newer-wins path and reads
back; a client that does not trust the CA gets a clear TLS error."""

from __future__ import annotations

import datetime as dt
import ipaddress
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


def _certificate(subject: str, key, issuer_name: str, issuer_key, ca: bool):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca_and_server_cert(directory: Path, name: str) -> ServerTls:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"{name} CA", ca_key, f"{name} CA", ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, f"{name} CA", ca_key, ca=False)
    files = ServerTls(directory / f"{name}-server.pem", directory / f"{name}-server.key", directory / f"{name}-ca.pem")
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))  # fmt: skip
    return files


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, ServerTls, Path]]:
    base = tmp_path_factory.mktemp("redis-tls")
    files = make_ca_and_server_cert(base, "featurelake-test")
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


def test_a_ca_that_did_not_sign_the_server_is_a_clear_tls_error(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, _, base = tls_server
    other = make_ca_and_server_cert(base, "someone-else")
    with pytest.raises(RedisTlsError, match="certificate verify failed") as error:
        connect(_conf(base, server, tls=True, ca=other.ca_cert))
    assert "redis.tls_ca_cert" in str(error.value) and PASSWORD not in str(error.value)


def test_plain_text_to_a_tls_port_is_a_clear_error(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, _, base = tls_server
    with pytest.raises(RedisUnavailableError, match=f"cannot reach Redis at redis://127.0.0.1:{server.port}"):
        connect(_conf(base, server, tls=False, ca=None))
