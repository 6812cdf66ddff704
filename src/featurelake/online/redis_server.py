"""A real redis-server, started by featurelake when the embedded default asks for it.

Used by the embedded default config (`redis.embedded: true`) and by the tests, which
start their own server on a free loopback port. Never a fake: this is Debian's
redis-server binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from featurelake.config import FeaturelakeConfig
from featurelake.errors import (
    RedisAuthError,
    RedisServerNotInstalledError,
    RedisStartError,
    RedisTlsError,
    RedisUnavailableError,
)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class RedisServer:
    """A redis-server process this library started."""

    host: str
    port: int
    data_dir: Path
    pidfile: Path
    logfile: Path

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class RedisSettings:
    """Connection settings shipped to executors (picklable; the password stays in memory)."""

    url: str
    password: str | None = None
    ssl_ca_certs: str | None = None
    socket_timeout: float = 5.0

    def client(self) -> redis.Redis:
        kwargs: dict[str, Any] = {"socket_timeout": self.socket_timeout, "socket_connect_timeout": 2}
        if self.password:
            kwargs["password"] = self.password
        if self.ssl_ca_certs:
            kwargs["ssl_ca_certs"] = self.ssl_ca_certs
        return redis.Redis.from_url(self.url, **kwargs)

    def __repr__(self) -> str:  # never print the password
        return f"RedisSettings(url={self.url!r}, password={'***' if self.password else None})"


@dataclass(frozen=True)
class ServerTls:
    """The files a TLS redis-server needs: its certificate and key, and the CA that signed it."""

    cert: Path
    key: Path
    ca_cert: Path


def redis_server_binary() -> str:
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RedisServerNotInstalledError()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_redis_server(
    data_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    appendonly: bool = True,
    password: str | None = None,
    timeout_s: float = 10.0,
    tls: ServerTls | None = None,
) -> RedisServer:
    """Start a daemonized redis-server bound to loopback and wait until it answers.

    With `tls`, the port speaks only TLS (clients are not asked for certificates)."""
    if host not in LOOPBACK_HOSTS:
        raise RedisStartError(host=host, port=port, detail="only loopback is allowed", log="-")
    data_dir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(
        host=host,
        port=port,
        data_dir=data_dir,
        pidfile=data_dir / "redis.pid",
        logfile=data_dir / "redis.log",
    )
    # Settings go through a 0600 file so a password never shows in `ps` or in logs.
    conf_file = data_dir / "redis.conf"
    lines = [
        f"bind {host}", f"port {port}", f'dir "{data_dir}"', "daemonize yes",
        f'pidfile "{server.pidfile}"', f'logfile "{server.logfile}"', 'save ""',
        f"appendonly {'yes' if appendonly else 'no'}",
    ]  # fmt: skip
    if password:
        lines.append(f'requirepass "{password}"')
    if tls:
        lines[1] = "port 0"
        lines += [f"tls-port {port}", f'tls-cert-file "{tls.cert}"', f'tls-key-file "{tls.key}"',
                  f'tls-ca-cert-file "{tls.ca_cert}"', "tls-auth-clients no"]  # fmt: skip
    conf_file.touch(mode=0o600)
    conf_file.chmod(0o600)
    conf_file.write_text("\n".join(lines) + "\n")
    args = [redis_server_binary(), str(conf_file)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RedisStartError(host=host, port=port, detail=proc.stderr.strip(), log=server.logfile)
    client = redis.Redis(host=host, port=port, password=password, socket_timeout=1,
                         ssl=tls is not None, ssl_ca_certs=str(tls.ca_cert) if tls else None)  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return server
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
        finally:
            client.close()
    raise RedisStartError(host=host, port=port, detail="no answer to PING", log=server.logfile)


def redis_settings(conf: FeaturelakeConfig) -> RedisSettings:
    """The configured URL, password and TLS settings (`redis.tls` turns redis:// into rediss://)."""
    rc = conf.redis
    url = rc.url.replace("redis://", "rediss://", 1) if rc.tls else rc.url
    password = rc.password.get_secret_value() if rc.password else None
    ca = str(rc.tls_ca_cert) if rc.tls_ca_cert and url.startswith("rediss://") else None
    return RedisSettings(url, password, ca, rc.socket_timeout_s)


def connect(conf: FeaturelakeConfig) -> redis.Redis:
    """A client for the configured Redis; typed errors when it is unreachable or refuses us."""
    rc = conf.redis
    client: redis.Redis = redis_settings(conf).client()
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise RedisAuthError(url=rc.redacted_url(), detail=str(exc), conf=conf.source_file) from None
    except redis.exceptions.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise RedisAuthError(url=rc.redacted_url(), detail=str(exc), conf=conf.source_file) from None
        raise
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        if _tls_failure(exc):
            raise RedisTlsError(url=rc.redacted_url(), detail=str(exc), conf=conf.source_file) from None
        raise RedisUnavailableError(url=rc.redacted_url(), detail=str(exc), conf=conf.source_file) from None
    return client


def _tls_failure(exc: BaseException) -> bool:
    """Whether an ssl error lies under redis-py's ConnectionError (it chains the OSError it caught)."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def embedded_server_for(conf: FeaturelakeConfig) -> RedisServer:
    parts = urlsplit(conf.redis.url)
    return RedisServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        data_dir=conf.state_dir / "redis",
        pidfile=conf.state_dir / "redis" / "redis.pid",
        logfile=conf.state_dir / "redis" / "redis.log",
    )


def ensure_redis(conf: FeaturelakeConfig, say: object = print) -> redis.Redis:
    """Connect; with `redis.embedded` on and nothing answering on loopback, start one.

    The embedded server keeps its data (AOF on) under the project's state dir.
    """
    try:
        return connect(conf)
    except RedisUnavailableError:
        host = urlsplit(conf.redis.url).hostname or ""
        if not conf.redis.embedded or host not in LOOPBACK_HOSTS:
            raise
    server = embedded_server_for(conf)
    password = conf.redis.password.get_secret_value() if conf.redis.password else None
    start_redis_server(server.data_dir, server.port, host=server.host, password=password)
    if callable(say):
        say(
            f"started embedded redis-server on {server.host}:{server.port} "
            f"(AOF on, data in {server.data_dir}; stop: featurelake redis --stop)"
        )
    return connect(conf)
