"""Stage three: parsed spec files -> one checked Registry (or every problem at once)."""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurelake.registry.model import Registry
from featurelake.specs.expressions import check_expression
from featurelake.specs.loader import LoadedFile, SpecProblem, SpecValidationError, load_repo
from featurelake.specs.models import RESERVED_COLUMNS, Feature, FeatureView, Source
from featurelake.specs.yaml_lines import LineDict, LineList

ColumnResolver = Callable[[Source], set[str] | None]
_KINDS = {"entities": "entity", "sources": "source", "feature_services": "feature_service"}


@dataclass(frozen=True)
class _Declared:
    kind: str
    raw_name: str
    file: LoadedFile
    loc: tuple[int | str, ...]

    @property
    def where(self) -> str:
        return f"{self.file.display}:{self.file.line(*self.loc)}"


def _declarations(files: list[LoadedFile]) -> Iterator[_Declared]:
    """Every named thing in the raw trees, valid or not (for duplicate/collision checks)."""
    for file in files:
        for key, kind in _KINDS.items():
            items = file.raw.get(key)
            if isinstance(items, LineList):
                for i, item in enumerate(items):
                    if isinstance(item, LineDict) and isinstance(item.get("name"), str):
                        yield _Declared(kind, item["name"], file, (key, i, "name"))
        view = file.raw.get("feature_view")
        if isinstance(view, LineDict) and isinstance(view.get("name"), str):
            yield _Declared("feature_view", view["name"], file, ("feature_view", "name"))


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_")


def _name_problems(declared: list[_Declared]) -> list[SpecProblem]:
    problems = []
    groups: dict[tuple[str, str], list[_Declared]] = defaultdict(list)
    for item in declared:
        groups[(item.kind, _normalise(item.raw_name))].append(item)
    for (kind, _), items in groups.items():
        first = items[0]
        for other in items[1:]:
            what = "defined twice" if other.raw_name == first.raw_name else (
                f"collides with {first.raw_name!r} (names are compared lower-cased, '-' as '_')"
            )  # fmt: skip
            problems.append(
                SpecProblem(
                    other.file.display, other.file.line(*other.loc),
                    f"{kind} {other.raw_name!r} {what}; first at {first.where}: rename one",
                )
            )  # fmt: skip
    return problems


class _Compiler:
    def __init__(self, files: list[LoadedFile], project: str, columns_of: ColumnResolver | None):
        self.files = [f for f in files if f.spec is not None]
        self.failed = [f for f in files if f.spec is None]
        self.project = project
        self.columns_of = columns_of or (lambda source: set(source.columns) if source.columns else None)
        self.problems: list[SpecProblem] = []
        self.origins: dict[str, str] = {}
        self.entities: dict[str, Any] = {}
        self.sources: dict[str, Source] = {}
        self.views: dict[str, tuple[FeatureView, LoadedFile]] = {}
        self.services: dict[str, Any] = {}
        raw_names = {(d.kind, d.raw_name) for d in _declarations(files)}
        self.declared_anywhere = raw_names

    def problem(self, file: LoadedFile, loc: tuple[int | str, ...], message: str) -> None:
        self.problems.append(SpecProblem(file.display, file.line(*loc), message))

    def collect(self) -> None:
        for file in self.files:
            spec = file.spec
            assert spec is not None
            for i, entity in enumerate(spec.entities or []):
                self.entities.setdefault(entity.name, entity)
                self.origins.setdefault(f"entity:{entity.name}", f"{file.display}:{file.line('entities', i)}")
            for i, source in enumerate(spec.sources or []):
                self.sources.setdefault(source.name, source)
                self.origins.setdefault(f"source:{source.name}", f"{file.display}:{file.line('sources', i)}")
            for i, service in enumerate(spec.feature_services or []):
                self.services.setdefault(service.name, (service, file, i))
                self.origins.setdefault(
                    f"feature_service:{service.name}",
                    f"{file.display}:{file.line('feature_services', i)}",
                )
            if spec.feature_view:
                view = spec.feature_view
                self.views.setdefault(view.name, (view, file))
                self.origins.setdefault(f"feature_view:{view.name}", f"{file.display}:{file.line('feature_view')}")
                for i, feature in enumerate(view.features):
                    line = file.line("feature_view", "features", i)
                    self.origins.setdefault(f"feature:{view.name}.{feature.name}", f"{file.display}:{line}")

    def unknown(self, kind: str, name: str, known: list[str]) -> str | None:
        if name in known:
            return None
        if (kind, name) in self.declared_anywhere:
            return None  # declared in a file that has its own problems: reported there
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known)) or 'none'}"
        return f"unknown {kind} {name!r}{hint}"

    def check_view(self, view: FeatureView, file: LoadedFile) -> None:
        at = ("feature_view",)
        for kind, name, known in (
            ("entity", view.entity, list(self.entities)),
            ("source", view.source, list(self.sources)),
        ):
            message = self.unknown(kind, name, known)
            if message:
                self.problem(file, (*at, kind), message)
        entity = self.entities.get(view.entity)
        source = self.sources.get(view.source)
        keys = set(entity.join_keys) if entity else set()
        first_at: dict[str, int] = {}
        for i, feature in enumerate(view.features):
            loc = (*at, "features", i)
            if feature.name in first_at:
                line = file.line(*at, "features", first_at[feature.name])
                self.problem(file, (*loc, "name"), f"feature {feature.name!r} is declared twice (first at line {line})")
            first_at.setdefault(feature.name, i)
            if feature.name in keys or feature.name in RESERVED_COLUMNS:
                self.problem(file, (*loc, "name"), f"feature name {feature.name!r} is reserved (a join key or "
                             "event_timestamp/created_timestamp/date); rename the feature")  # fmt: skip
        if source is not None:
            self.check_columns(view, file, source, keys)

    def check_columns(self, view: FeatureView, file: LoadedFile, source: Source, keys: set[str]) -> None:
        columns = self.columns_of(source)
        if columns is None:
            return
        at = ("feature_view",)
        timestamp = view.timestamp or source.timestamp
        needed: dict[str, tuple[int | str, ...]] = {
            timestamp: (*at, "timestamp" if view.timestamp else "source"),
            **dict.fromkeys(keys, (*at, "entity")),
        }
        if source.created_timestamp:
            needed[source.created_timestamp] = (*at, "source")
        for column, loc in needed.items():
            if column not in columns:
                self.problem(file, loc, self.missing_column(column, source, columns))
        for i, feature in enumerate(view.features):
            for column in sorted(_columns_read(feature) - columns):
                where = (*at, "features", i, "expression" if feature.expression else "name")
                self.problem(file, where, self.missing_column(column, source, columns))

    @staticmethod
    def missing_column(column: str, source: Source, columns: set[str]) -> str:
        close = difflib.get_close_matches(column, sorted(columns), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; it has {', '.join(sorted(columns))}"
        return f"column {column!r} is not in source {source.name!r}{hint}"

    def check_services(self) -> None:
        for service, file, i in self.services.values():
            for j, ref in enumerate(service.features):
                view_name, sep, feature_name = ref.partition(":")
                ref_loc = ("feature_services", i, "features", j)
                view = self.views.get(view_name)
                if view is None:
                    message = self.unknown("feature_view", view_name, list(self.views))
                    if message:
                        self.problem(file, ref_loc, f"{message} (in {ref!r})")
                elif sep and feature_name not in {f.name for f in view[0].features}:
                    self.problem(file, ref_loc, f"feature view {view_name!r} has no feature {feature_name!r}")

    def check_raw_refs(self, file: LoadedFile) -> None:
        """References of a view whose file has other problems: report them in the same run."""
        view = file.raw.get("feature_view")
        if not isinstance(view, LineDict):
            return
        for kind, known in (("entity", list(self.entities)), ("source", list(self.sources))):
            name = view.get(kind)
            message = self.unknown(kind, name, known) if isinstance(name, str) else None
            if message:
                self.problem(file, ("feature_view", kind), message)

    def run(self) -> Registry:
        self.collect()
        for view, file in self.views.values():
            self.check_view(view, file)
        for failed in self.failed:
            self.check_raw_refs(failed)
        self.check_services()
        return Registry(
            project=self.project,
            entities=self.entities,
            sources=self.sources,
            views={name: view for name, (view, _) in sorted(self.views.items())},
            feature_services={name: s for name, (s, _, _) in sorted(self.services.items())},
            origins=dict(sorted(self.origins.items())),
        )


def _columns_read(feature: Feature) -> set[str]:
    expression = feature.source_expression
    return set(check_expression(expression).columns) if expression else set()


def compile_files(
    files: list[LoadedFile], project: str, columns_of: ColumnResolver | None = None
) -> tuple[Registry, list[SpecProblem]]:
    problems = _name_problems(list(_declarations(files)))
    compiler = _Compiler(files, project, columns_of)
    registry = compiler.run()
    return registry, problems + compiler.problems


def compile_repo(repo: Path, project: str, columns_of: ColumnResolver | None = None) -> Registry:
    """Load and check a whole repo; raises SpecValidationError listing every problem."""
    files, problems = load_repo(repo)
    registry, more = compile_files(files, project, columns_of)
    if problems or more:
        raise SpecValidationError(repo, problems + more)
    return registry
