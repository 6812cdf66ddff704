"""S3 and anything that speaks its API, through boto3 (conditional writes: If-None-Match / If-Match).

Settings are the standard AWS ones: credentials from the usual chain (environment,
profile, instance role), `AWS_ENDPOINT_URL` for a non-AWS endpoint (path-style addressing
then, as such stores expect), `AWS_REGION`. Timeouts and retries are bounded so that an
unreachable or misconfigured store fails in seconds with a typed error, not minutes.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from featurelake.storage.base import (
    BucketMissingError,
    Storage,
    StorageAccessDeniedError,
    StorageConflictError,
    StorageError,
    StorageNotFoundError,
    StorageUnreachableError,
    Versioned,
)

T = TypeVar("T")
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "InvalidToken", "ExpiredToken"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Settings:
    """Where the object store is; None means boto3's own default (AWS)."""

    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool | None = None

    @classmethod
    def from_env(cls, base: S3Settings | None = None) -> S3Settings:
        """The standard AWS environment wins over the conf file (`base`)."""
        base = base or cls()
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or base.endpoint_url
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or base.region
        return cls(endpoint, region, base.path_style)

    @property
    def use_path_style(self) -> bool:
        return self.path_style if self.path_style is not None else self.endpoint_url is not None


def split(location: str) -> tuple[str, str]:
    """(bucket, key) of an s3a:// or s3:// URI."""
    parts = urlsplit(location)
    return parts.netloc, parts.path.lstrip("/")


class S3Storage(Storage):
    def __init__(self, settings: S3Settings) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if settings.use_path_style else "auto"},
            # Stores that speak an older S3 dialect reject the newer checksum headers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=settings.endpoint_url, region_name=settings.region or "us-east-1", config=config
        )

    def read(self, location: str) -> bytes:
        return self.read_versioned(location).data

    def read_versioned(self, location: str) -> Versioned:
        bucket, key = split(location)
        answer = self._call(location, lambda: self.client.get_object(Bucket=bucket, Key=key))
        return Versioned(answer["Body"].read(), answer["ETag"])

    def write(self, location: str, data: bytes) -> None:
        bucket, key = split(location)
        self._call(location, lambda: self.client.put_object(Bucket=bucket, Key=key, Body=data))

    def create(self, location: str, data: bytes) -> str:
        return self.replace(location, data, None)

    def replace(self, location: str, data: bytes, expected: str | None) -> str:
        bucket, key = split(location)
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        answer = self._call(location, lambda: self.client.put_object(Bucket=bucket, Key=key, Body=data, **condition))
        return str(answer["ETag"])

    def delete(self, location: str, expected: str | None = None) -> None:
        bucket, key = split(location)
        condition = {} if expected is None else {"IfMatch": expected}
        with contextlib.suppress(StorageNotFoundError):
            self._call(location, lambda: self.client.delete_object(Bucket=bucket, Key=key, **condition))

    def exists(self, location: str) -> bool:
        bucket, key = split(location)
        try:
            self._call(location, lambda: self.client.head_object(Bucket=bucket, Key=key))
            return True
        except StorageNotFoundError:
            return any(True for _ in self._keys(location.rstrip("/") + "/", limit=1))

    def list(self, location: str, hidden: bool = False) -> list[str]:
        bucket, key = split(location.rstrip("/") + "/")
        names: set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(location, lambda: list(paginator.paginate(Bucket=bucket, Prefix=key, Delimiter="/")))
        for page in pages:
            names.update(p["Prefix"][len(key) :].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][len(key) :] for o in page.get("Contents", []))
        return sorted(n for n in names if n and (hidden or not n.startswith(".")))

    def delete_tree(self, location: str) -> None:
        bucket, _ = split(location)
        batch: list[dict[str, str]] = []
        for key in self._keys(location.rstrip("/") + "/"):
            batch.append({"Key": key})
            if len(batch) == 1000:
                self._delete_batch(location, bucket, batch)
                batch = []
        if batch:
            self._delete_batch(location, bucket, batch)

    def move_tree(self, source: str, target: str) -> None:
        bucket, prefix = split(source.rstrip("/") + "/")
        target_bucket, target_prefix = split(target.rstrip("/") + "/")
        for key in list(self._keys(source.rstrip("/") + "/")):
            self._copy(target, {"Bucket": bucket, "Key": key}, target_bucket, target_prefix + key[len(prefix) :])
        self.delete_tree(source)

    def _copy(self, location: str, source: dict[str, str], bucket: str, key: str) -> None:
        self._call(location, lambda: self.client.copy_object(Bucket=bucket, Key=key, CopySource=source))

    def put_tree(self, folder: Path, location: str, since: float = 0.0) -> int:
        bucket, prefix = split(location.rstrip("/") + "/")
        files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.stat().st_mtime >= since]
        for path in files:
            self._upload(location, path, bucket, prefix + path.relative_to(folder).as_posix())
        return len(files)

    def _upload(self, location: str, path: Path, bucket: str, key: str) -> None:
        self._call(location, lambda: self.client.upload_file(str(path), bucket, key))

    def _keys(self, prefix_location: str, limit: int | None = None) -> Iterator[str]:
        bucket, prefix = split(prefix_location)
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"MaxItems": limit} if limit else {})
        for page in self._call(prefix_location, lambda: list(pages)):
            for item in page.get("Contents", []):
                yield item["Key"]

    def _delete_batch(self, location: str, bucket: str, batch: builtins.list[dict[str, str]]) -> None:
        self._call(location, lambda: self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch}))

    def _call(self, location: str, action: Callable[[], T]) -> T:
        """Run one request, turning botocore's errors into featurelake's typed ones."""
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        try:
            return action()
        except ClientError as exc:
            raise _typed(location, exc.response) from None
        except NoCredentialsError:
            raise StorageAccessDeniedError(location=location, problem="no credentials found") from None
        except (EndpointConnectionError, BotoCoreError) as exc:
            endpoint = self.settings.endpoint_url or "AWS"
            raise StorageUnreachableError(location=location, endpoint=endpoint, problem=str(exc)) from None


def _typed(location: str, response: dict[str, Any]) -> StorageError:
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    message = str(response.get("Error", {}).get("Message", code))
    if code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {409, 412}:
        return StorageConflictError(location=location, problem=code or str(status))
    if code == "NoSuchBucket":
        return BucketMissingError(location=location, bucket=split(location)[0], problem=message)
    if code in _DENIED or status == 403:
        return StorageAccessDeniedError(location=location, problem=code or message)
    if code in _NOT_FOUND or status == 404:
        return StorageNotFoundError(location=location)
    return StorageError(location=location, problem=f"{code}: {message}")
