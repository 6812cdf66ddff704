"""Safe YAML loading that remembers the line of every mapping key and list item.

Stage one of the two-stage parse: plain data plus positions, so every later problem can
be reported as `path:line`. Only PyYAML's SafeLoader constructors are used: tags such as
`!!python/object/apply` are rejected, never executed. Duplicate keys, which PyYAML would
silently collapse, are errors.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, SequenceNode


class LineDict(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]


class LineList(list[Any]):
    line: int
    item_lines: list[int]


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: MappingNode, deep: bool = False) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        if key in result:
            first = result.key_lines[str(key)]
            raise _DuplicateKey(None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: SequenceNode, deep: bool = False) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_with_lines(text: str) -> Any:
    """Parse one YAML document; raises YamlProblem-carrying ValueError on bad input."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        # An unclosed bracket or quote is noticed lines later; the construct's start
        # (context_mark) is where the mistake usually is.
        unclosed = bool(exc.context and ("flow" in exc.context or "quoted" in exc.context))
        mark = exc.context_mark if unclosed and exc.context_mark else exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        if unclosed and exc.problem_mark:
            problem = f"{exc.context} opened here is not closed: {problem} at line {exc.problem_mark.line + 1}"
        if isinstance(exc, yaml.constructor.ConstructorError) and "could not determine a constructor" in problem:
            problem = f"{problem.strip()}: tags that construct objects are not allowed in specs; write plain values"
        raise YamlSyntaxError(YamlProblem(line, f"YAML: {problem.strip()}")) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(YamlProblem(1, f"YAML: {exc}")) from None


class YamlSyntaxError(ValueError):
    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def line_of(root: Any, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node of `loc` (a pydantic error location) found in `root`."""
    node, line = root, getattr(root, "line", 1)
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
