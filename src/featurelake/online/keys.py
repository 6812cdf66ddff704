"""Redis key names: namespaced by project, view and version, so one view can expire or be
dropped (`SCAN` + `UNLINK` of its prefix) without touching any other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def view_prefix(project: str, view: str, version: int) -> str:
    return f"{project}:{view}:v{version}:"


def entity_key(prefix: str, key_values: Sequence[Any]) -> str:
    """`<prefix><k1>` or `<prefix><k1>|<k2>` for composite keys; ints and strings as written."""
    return prefix + "|".join(str(v) for v in key_values)


def watermark_key(project: str, view: str, version: int) -> str:
    return f"{project}:_watermark:{view}:v{version}"
