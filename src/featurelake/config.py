"""Environment configuration: which Spark, which lake, which Redis.

A conf file is YAML (safe loading only). String values may reference environment
variables as ``${VAR}`` or ``${VAR:-default}``; secrets (the Redis password) may only be
given that way, never as literals. ``FEATURELAKE_CONF``, ``FEATURELAKE_LAKE_ROOT``,
``FEATURELAKE_REDIS_URL``, ``FEATURELAKE_REDIS_PASSWORD`` and ``FEATURELAKE_SPARK_MASTER`` override
the file; an object-store lake takes the standard AWS environment (``AWS_ENDPOINT_URL``,
``AWS_REGION``, credentials from the usual chain), which wins over the ``s3:`` section.
Relative paths in a conf file are relative to the project root: the parent of the
folder that holds the conf file (``conf/local.yaml`` -> the repository).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from featurelake.errors import ConfigInvalidError, ConfigNotFoundError, UnsetEnvVarError

DEFAULT_CONF = Path("conf") / "local.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = {("redis", "password")}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConf(_Model):
    master: str = "local[*]"
    app_name: str = "featurelake"
    jars_dir: Path = Path(".featurelake/jars")
    # Local drivers on a JDK 25 with setup's AOT cache when the machine has one (spark/cds.py).
    aot_cache: bool = True
    settings: dict[str, str] = Field(default_factory=dict)


class RedisConf(_Model):
    url: str = "redis://127.0.0.1:6379/0"
    password: SecretStr | None = None
    tls: bool = False
    tls_ca_cert: Path | None = None
    embedded: bool = False
    socket_timeout_s: float = 5.0

    def redacted_url(self) -> str:
        return redact_url(self.url)


class S3Conf(_Model):
    """Where an s3a:// / s3:// lake lives when it is not AWS itself (never credentials)."""

    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool | None = None


class LeaseConf(_Model):
    """The per-table writer lease (storage.lease): how long a holder's claim lasts
    without renewal, and how long a second writer waits before it gives up."""

    ttl_s: float = 60.0
    wait_s: float = 900.0


class FeaturelakeConfig(_Model):
    project: str = "featurelake"
    lake_root: str = "./lake"
    state_dir: Path = Path(".featurelake")
    reports_dir: str | None = None
    web_assets_dir: Path = Path(".featurelake/web-assets")
    spark: SparkConf = Field(default_factory=SparkConf)
    redis: RedisConf = Field(default_factory=RedisConf)
    s3: S3Conf = Field(default_factory=S3Conf)
    lease: LeaseConf = Field(default_factory=LeaseConf)
    source_file: Path | None = None

    @property
    def resolved_reports_dir(self) -> str:
        return self.reports_dir or f"{self.lake_root.rstrip('/')}/_reports"


def redact_url(url: str) -> str:
    """The URL without its password, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    netloc = f"{parts.username}:***@{netloc}" if parts.username else f":***@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def find_config_path(explicit: Path | str | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    candidates = [Path(explicit)] if explicit else []
    if not candidates and env.get("FEATURELAKE_CONF"):
        candidates = [Path(env["FEATURELAKE_CONF"])]
    if not candidates:
        candidates = [Path.cwd() / DEFAULT_CONF]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise ConfigNotFoundError(looked_at=", ".join(str(p) for p in candidates))


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> FeaturelakeConfig:
    """Read a conf file, resolve ``${ENV}`` references, apply env overrides."""
    env = os.environ if env is None else env
    conf_path = find_config_path(path, env)
    text = conf_path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigInvalidError(path=conf_path, problem=f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigInvalidError(path=conf_path, problem="the top level must be a mapping")
    data = _interpolate(raw, (), conf_path, text, env)
    data = _apply_env_overrides(data, env)
    root = _project_root(conf_path)
    try:
        conf = FeaturelakeConfig.model_validate({**data, "source_file": conf_path})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigInvalidError(path=conf_path, problem=problems) from None
    conf = _resolve_paths(conf, root, overridden_lake_root="FEATURELAKE_LAKE_ROOT" in env)
    _register_object_store(conf)
    return conf


def _register_object_store(conf: FeaturelakeConfig) -> None:
    from featurelake.storage import S3Settings, configure_object_store

    configure_object_store(S3Settings(conf.s3.endpoint_url or None, conf.s3.region or None, conf.s3.path_style))


def _project_root(conf_path: Path) -> Path:
    return conf_path.parent.parent if conf_path.parent.name == "conf" else conf_path.parent


def _interpolate(node: Any, keys: tuple[str, ...], conf_path: Path, text: str, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, (*keys, str(k)), conf_path, text, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, keys, conf_path, text, env) for v in node]
    if keys in _SECRET_KEYS and node is not None and not _is_env_ref(node):
        raise ConfigInvalidError(
            path=f"{conf_path}:{_line_of(text, keys[-1] + ':')}",
            problem=f"{'.'.join(keys)} must be an environment reference like "
            "${FEATURELAKE_REDIS_PASSWORD}; secrets are never written into YAML",
        )
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in env:
            return env[var]
        if default is not None:
            return default
        raise UnsetEnvVarError(path=conf_path, line=_line_of(text, match.group(0)), var=var)

    value = _ENV_REF.sub(substitute, node)
    return None if value == "" and keys in _SECRET_KEYS else value


def _is_env_ref(value: Any) -> bool:
    return isinstance(value, str) and _ENV_REF.fullmatch(value.strip()) is not None


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    data = dict(data)
    redis = dict(data.get("redis") or {})
    if env.get("FEATURELAKE_LAKE_ROOT"):
        data["lake_root"] = env["FEATURELAKE_LAKE_ROOT"]
    if env.get("FEATURELAKE_REDIS_URL"):
        redis["url"] = env["FEATURELAKE_REDIS_URL"]
    if env.get("FEATURELAKE_REDIS_PASSWORD"):
        redis["password"] = env["FEATURELAKE_REDIS_PASSWORD"]
    if env.get("FEATURELAKE_SPARK_MASTER"):
        data["spark"] = {**(data.get("spark") or {}), "master": env["FEATURELAKE_SPARK_MASTER"]}
    if redis:
        data["redis"] = redis
    return data


def _is_uri(location: str) -> bool:
    return "://" in location


def _resolve_paths(conf: FeaturelakeConfig, root: Path, overridden_lake_root: bool) -> FeaturelakeConfig:
    def under_root(p: Path) -> Path:
        return p if p.is_absolute() else (root / p).resolve()

    lake_root = conf.lake_root
    if not _is_uri(lake_root) and not Path(lake_root).is_absolute():
        base = Path.cwd() if overridden_lake_root else root
        lake_root = str((base / lake_root).resolve())
    reports = conf.reports_dir
    if reports and not _is_uri(reports) and not Path(reports).is_absolute():
        reports = str(under_root(Path(reports)))
    spark = conf.spark.model_copy(update={"jars_dir": under_root(conf.spark.jars_dir)})
    ca = conf.redis.tls_ca_cert
    redis = conf.redis.model_copy(update={"tls_ca_cert": under_root(ca) if ca else None})
    return conf.model_copy(
        update={
            "lake_root": lake_root,
            "state_dir": under_root(conf.state_dir),
            "reports_dir": reports,
            "web_assets_dir": under_root(conf.web_assets_dir),
            "spark": spark,
            "redis": redis,
        }
    )


def describe_config(conf: FeaturelakeConfig) -> dict[str, Any]:
    """The config as plain data with every secret redacted (for printing and logs)."""
    return {
        "source_file": str(conf.source_file),
        "project": conf.project,
        "lake_root": conf.lake_root,
        "state_dir": str(conf.state_dir),
        "reports_dir": conf.resolved_reports_dir,
        "web_assets_dir": str(conf.web_assets_dir),
        "spark": {
            "master": conf.spark.master,
            "jars_dir": str(conf.spark.jars_dir),
            "aot_cache": conf.spark.aot_cache,
            "settings": dict(conf.spark.settings),
        },
        "s3": conf.s3.model_dump(),
        "redis": {
            "url": conf.redis.redacted_url(),
            "password": "***" if conf.redis.password else None,
            "tls": conf.redis.tls,
            "embedded": conf.redis.embedded,
        },
    }
