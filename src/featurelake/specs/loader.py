"""Read a feature repository: every YAML file -> SpecFile models, every problem collected.

Problems are `path:line: message` with the fix; loading never stops at the first one.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from featurelake.errors import FeaturelakeError
from featurelake.specs import models
from featurelake.specs.yaml_lines import LineDict, YamlSyntaxError, line_of, load_yaml_with_lines

SPEC_SUFFIXES = {".yaml", ".yml"}


@dataclass(frozen=True, order=True)
class SpecProblem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class SpecValidationError(FeaturelakeError):
    """The repository has problems; nothing was applied."""

    template = "{count} problem(s) in {repo}, nothing applied:\n{details}"

    def __init__(self, repo: Path | str, problems: list[SpecProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__(repo=repo, count=len(self.problems), details="\n".join(str(p) for p in self.problems))


class SpecRepoNotFoundError(FeaturelakeError):
    template = "feature repository {repo} does not exist; pass --repo DIR (default: feature_specs)"


@dataclass(frozen=True)
class LoadedFile:
    """One parsed spec file: where it is, its raw tree (with lines) and its typed model."""

    path: Path
    display: str
    raw: LineDict
    spec: models.SpecFile | None  # None when the file has problems

    def line(self, *loc: int | str) -> int:
        return line_of(self.raw, loc)


def _all_field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in _types_in(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _all_field_names(arg, seen)
    return names


def _types_in(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        yield from _types_in(meta)


_KNOWN_KEYS = _all_field_names(models.SpecFile)


def _message(err: ErrorDetails) -> str:
    loc = err["loc"]
    key = str(loc[-1]) if loc else "file"
    kind = err["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; see `featurelake schema` for the keys"
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind == "union_tag_invalid":
        return f"unknown expectation {err['ctx']['tag']!r}; use one of {err['ctx']['expected_tags']}"
    if kind == "union_tag_not_found":
        return "an expectation needs a name, like `not_null` or `between: {min: 0}`"
    message = err["msg"].removeprefix("Value error, ")
    field = key if isinstance(loc[-1], str) else ""
    return f"{field}: {message}" if field and kind not in {"value_error", "assertion_error"} else message


def load_spec_file(path: Path, display: str) -> tuple[LoadedFile | None, list[SpecProblem]]:
    try:
        raw = load_yaml_with_lines(path.read_text())
    except YamlSyntaxError as exc:
        return None, [SpecProblem(display, exc.problem.line, exc.problem.message)]
    except UnicodeDecodeError:
        return None, [SpecProblem(display, 1, "not UTF-8 text")]
    if raw is None:
        return None, [SpecProblem(display, 1, "empty spec file: remove it or declare something")]
    if not isinstance(raw, LineDict):
        return None, [
            SpecProblem(
                display,
                1,
                "a spec file is a mapping with entities, sources, feature_view or feature_services",
            )
        ]
    try:
        spec = models.SpecFile.model_validate(raw)
    except ValidationError as exc:
        problems = [SpecProblem(display, line_of(raw, tuple(e["loc"])), _message(e)) for e in exc.errors()]
        return LoadedFile(path=path, display=display, raw=raw, spec=None), problems
    return LoadedFile(path=path, display=display, raw=raw, spec=spec), []


def spec_files(repo: Path) -> list[Path]:
    return sorted(
        p
        for p in repo.rglob("*")
        if p.suffix in SPEC_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(repo).parts)
    )


def load_repo(repo: Path) -> tuple[list[LoadedFile], list[SpecProblem]]:
    """Parse every spec file of `repo`; returns the good files and all problems."""
    if not repo.is_dir():
        raise SpecRepoNotFoundError(repo=repo)
    loaded: list[LoadedFile] = []
    problems: list[SpecProblem] = []
    for path in spec_files(repo):
        display = os.path.relpath(path)
        if display.startswith(".."):
            display = str(path.resolve())
        one, found = load_spec_file(path, display)
        problems += found
        if one:
            loaded.append(one)
    return loaded, problems
