"""An S3 API server on loopback: moto's server mode, in a process of its own.

moto is a test server: it keeps objects in memory, accepts any credentials and checks
conditional writes without a lock. Good for functional tests of the object-store path;
not a proof that races cannot happen on a real store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from featurelake.devservices.processes import spawn, stop, wait_until
from featurelake.online.redis_server import free_port


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def create_bucket(self, bucket: str) -> None:
        from featurelake.storage import storage_for

        storage = storage_for(f"s3a://{bucket}/")
        client = storage.client  # type: ignore[attr-defined]
        client.create_bucket(Bucket=bucket)

    def environment(self, access_key: str, secret_key: str) -> dict[str, str]:
        """The standard AWS variables that point featurelake (boto3 and s3a) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_REGION": "us-east-1",
        }

    def stop(self) -> None:
        stop(self.process)


def start_s3_server(log_dir: Path, port: int | None = None, timeout_s: float = 60.0,
                    check_credentials: bool = False) -> S3Server:  # fmt: skip
    """`check_credentials`: refuse every request whose keys moto's IAM does not know (it
    knows none), as a store does with wrong keys; by default moto accepts any keys."""
    port = port or free_port()
    log = log_dir / "s3-server.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else None
    process = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log, env)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2) as answer:
            return bool(answer.status == 200)

    wait_until(ready, process, "S3 API server (moto)", log, timeout_s)
    return S3Server(url, process, log)
