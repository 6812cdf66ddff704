"""The demo, run once per test session on a small size: its project (lake, Redis values,
training set, labels) is what the docs and notebook tests work in, as a user would after
`make demo`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from featurelake.online.redis_server import ServerTls

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


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


def _ca_and_server_cert(directory: Path, name: str) -> ServerTls:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from featurelake.online.redis_server import ServerTls

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"{name} CA", ca_key, f"{name} CA", ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, f"{name} CA", ca_key, ca=False)
    files = ServerTls(directory / f"{name}-server.pem", directory / f"{name}-server.key", directory / f"{name}-ca.pem")
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))  # fmt: skip
    return files


@pytest.fixture(scope="session")
def make_tls_files():  # type: ignore[no-untyped-def]
    """make_tls_files(directory, name) -> ServerTls: a CA made for the test and a certificate it
    signed for 127.0.0.1 / localhost (PEM files), for TLS servers the tests start."""
    return _ca_and_server_cert
