"""Typed errors. Each condition has one class and one message template.

The library raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FeaturelakeError(Exception):
    """Base of every error featurelake raises on purpose."""

    template: ClassVar[str] = "{message}"
    exit_code: ClassVar[int] = 1

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        super().__init__(self.template.format(**fields))


# --- configuration -----------------------------------------------------------------
class ConfigNotFoundError(FeaturelakeError):
    template = (
        "no featurelake config found (looked at {looked_at}); pass --conf PATH, set "
        "FEATURELAKE_CONF, or run from the project root where conf/local.yaml lives"
    )


class ConfigInvalidError(FeaturelakeError):
    template = "{path}: {problem}"


class UnsetEnvVarError(FeaturelakeError):
    template = (
        "{path}:{line}: environment variable {var} is referenced as ${{{var}}} but is not set; "
        "export it, or write ${{{var}:-default}} to give a default"
    )


# --- Spark / Delta -----------------------------------------------------------------
class DeltaJarsMissingError(FeaturelakeError):
    template = (
        "Delta Lake jars for delta-spark {delta_version} are missing from {jars_dir}; "
        "run `make setup` (it fetches them from Maven Central once)"
    )


class JarFetchError(FeaturelakeError):
    template = "could not fetch Delta jars {coordinates} with Maven: {detail}"


# --- Redis -------------------------------------------------------------------------
class RedisServerNotInstalledError(FeaturelakeError):
    template = (
        "redis-server is not installed; on Debian/Ubuntu run `make setup` (it runs "
        "apt-get install redis-server), on macOS `brew install redis`, or point "
        "FEATURELAKE_REDIS_URL at a running server"
    )


class RedisUnavailableError(FeaturelakeError):
    template = (
        "cannot reach Redis at {url}: {detail}; start it, fix redis.url in {conf}, or set "
        "FEATURELAKE_REDIS_URL (the embedded server starts only for 127.0.0.1/localhost)"
    )


class RedisAuthError(FeaturelakeError):
    template = (
        "Redis at {url} refused the credentials: {detail}; set the password through the "
        "environment variable named in redis.password of {conf}"
    )


class RedisTlsError(FeaturelakeError):
    template = (
        "TLS with Redis at {url} failed: {detail}; set redis.tls_ca_cert in {conf} to the CA "
        "certificate that signed the server's certificate (or leave it unset to use the system's CAs)"
    )


class RedisStartError(FeaturelakeError):
    template = "embedded redis-server did not start on {host}:{port}: {detail} (log: {log})"
