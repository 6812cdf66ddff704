"""How `featurelake serve` runs: address, workers, TLS, tokens and limits.

Settings travel to uvicorn's worker processes as JSON in one environment variable; they
never hold a token, only where tokens come from (FEATURELAKE_SERVE_TOKENS, a token file),
so each worker reads the tokens itself and nothing secret is passed on a command line.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from featurelake.errors import FeaturelakeError

SETTINGS_ENV = "FEATURELAKE_SERVE_SETTINGS"
TOKENS_ENV = "FEATURELAKE_SERVE_TOKENS"


class InsecureBindError(FeaturelakeError):
    template = (
        "serving on {host} (not loopback) needs {missing}: give --tls-cert and --tls-key, and tokens in "
        f"{TOKENS_ENV} (comma-separated) or --token-file (one per line)"
    )


class ServeSettingsError(FeaturelakeError):
    template = "{problem}"


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 6566
    workers: int = 1
    conf: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    token_file: str | None = None
    max_body_bytes: int = 1 << 20
    max_entities: int = 1000
    timeout_s: float = 1.0
    registry_refresh_s: float = 10.0
    access_log: bool = True
    metrics_dir: str | None = field(default=None)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    def check(self) -> None:
        """Refuse settings that would expose the store: a public bind without TLS and tokens."""
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ServeSettingsError(problem="--tls-cert and --tls-key go together")
        for path in (self.tls_cert, self.tls_key, self.token_file):
            if path and not Path(path).is_file():
                raise ServeSettingsError(problem=f"{path}: no such file")
        if self.workers < 1 or self.max_entities < 1 or self.max_body_bytes < 1 or self.timeout_s <= 0:
            raise ServeSettingsError(problem="--workers, limits and --timeout-s must be positive")
        if self.loopback:
            return
        missing = [what for what, ok in (("TLS", self.tls), ("tokens", bool(self.tokens()))) if not ok]
        if missing:
            raise InsecureBindError(host=self.host, missing=" and ".join(missing))

    def tokens(self) -> tuple[str, ...]:
        """Every accepted token (several at once while one is rotated out)."""
        found = [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",")]
        if self.token_file:
            found += [line.strip() for line in Path(self.token_file).read_text().splitlines()]
        return tuple(t for t in found if t and not t.startswith("#"))

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        return cls(**json.loads(os.environ[SETTINGS_ENV]))
