"""docs/troubleshooting.md cannot drift: each row names a real error class, and the message
it quotes is in that class's template."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import featurelake
from featurelake.errors import FeaturelakeError

DOC = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \|", re.M)


def _error_classes() -> dict[str, type[FeaturelakeError]]:
    for module in pkgutil.walk_packages(featurelake.__path__, "featurelake."):
        importlib.import_module(module.name)
    found: dict[str, type[FeaturelakeError]] = {}
    stack = [FeaturelakeError]
    while stack:
        cls = stack.pop()
        found[cls.__name__] = cls
        stack += cls.__subclasses__()
    return found


def test_every_troubleshooting_row_quotes_a_real_error() -> None:
    classes = _error_classes()
    rows = ROW.findall(DOC.read_text())
    assert len(rows) >= 15
    for name, quoted in rows:
        assert name in classes, f"docs/troubleshooting.md names {name}, which does not exist"
        template = classes[name].template
        quoted = re.sub(r"\([^)]* [^)]*\)", "", quoted)  # a parenthesised phrase describes, not quotes
        for piece in (p.strip(" ,") for p in quoted.split("...")):
            assert piece in template, f"{name}: {piece!r} is not in its message template {template!r}"
