"""Filters on online feature values: `{"user_stats:country": "DE", "user_stats:spend_30d": {"gte": 100}}`.

A bare value means equality; an object combines operators (all must hold). A candidate's
values are what `get_online_features` returns for it (a missing value is the feature's
default), so a filter means the same thing as reading the features and checking them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featurelake.registry.model import FeatureRef, Registry
from featurelake.similarity.errors import FilterError

_ORDERED: dict[str, Callable[[Any, Any], Any]] = {
    "gt": lambda v, x: v > x,
    "gte": lambda v, x: v >= x,
    "lt": lambda v, x: v < x,
    "lte": lambda v, x: v <= x,
}
_OPERATORS = {"eq", "ne", "in", "not_in", *_ORDERED}


@dataclass(frozen=True)
class Condition:
    ref: FeatureRef
    column: str  # the column name in a read with full feature names
    test: Callable[[Any], bool]


def parse_filter(spec: dict[str, Any] | None, registry: Registry, ref: str, join_keys: list[str]) -> list[Condition]:
    if not spec:
        return []
    if not isinstance(spec, dict):
        raise FilterError(ref=ref, problem=f"expected an object of feature -> condition, got {type(spec).__name__}")
    conditions = []
    for name, condition in spec.items():
        feature = _resolve(registry, ref, name, join_keys)
        conditions.append(Condition(feature, f"{feature.view}__{feature.feature}", _test(ref, name, condition)))
    return conditions


def _resolve(registry: Registry, ref: str, name: str, join_keys: list[str]) -> FeatureRef:
    try:
        (feature,) = registry.resolve_refs([name])
    except Exception as exc:  # unknown view or feature, a malformed ref: the registry's message says which
        raise FilterError(ref=ref, problem=str(exc)) from None
    if not registry.view(feature.view).online:
        raise FilterError(ref=ref, problem=f"{name} is not online (its view has `online: false`)")
    if registry.join_keys(feature.view) != join_keys:
        raise FilterError(ref=ref, problem=f"{name} is keyed by {registry.join_keys(feature.view)}, not {join_keys}")
    return feature


def _test(ref: str, name: str, condition: Any) -> Callable[[Any], bool]:
    if not isinstance(condition, dict):
        _check_scalar(ref, name, "eq", condition)
        return lambda value: _equal(value, condition)
    if not condition or set(condition) - _OPERATORS:
        raise FilterError(
            ref=ref, problem=f"{name}: operators are {sorted(_OPERATORS)}, got {sorted(condition) or 'none'}"
        )
    tests = [_operator(ref, name, op, operand) for op, operand in condition.items()]
    return lambda value: all(test(value) for test in tests)


def _operator(ref: str, name: str, op: str, operand: Any) -> Callable[[Any], bool]:
    if op in {"in", "not_in"}:
        if not isinstance(operand, list):
            raise FilterError(ref=ref, problem=f"{name}: `{op}` takes a list of values")
        for item in operand:
            _check_scalar(ref, name, op, item)
        members = list(operand)

        def found(value: Any) -> bool:
            return any(_equal(value, m) for m in members)

        def missing(value: Any) -> bool:
            return not found(value)

        return found if op == "in" else missing
    _check_scalar(ref, name, op, operand)
    if op == "eq":
        return lambda value: _equal(value, operand)
    if op == "ne":
        return lambda value: not _equal(value, operand)
    if operand is None or isinstance(operand, bool):
        raise FilterError(ref=ref, problem=f"{name}: `{op}` compares numbers or strings, not {operand!r}")
    compare = _ORDERED[op]

    def ordered(value: Any) -> bool:
        return _comparable(value, operand) and bool(compare(value, operand))

    return ordered


def _check_scalar(ref: str, name: str, op: str, operand: Any) -> None:
    if operand is not None and not isinstance(operand, bool | int | float | str):
        raise FilterError(ref=ref, problem=f"{name}: `{op}` takes a number, string, boolean or null, not {operand!r}")
    if isinstance(operand, float) and not math.isfinite(operand):
        raise FilterError(ref=ref, problem=f"{name}: `{op}` takes finite numbers, not {operand!r}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(value: Any, operand: Any) -> bool:
    """Null, or a string against a number, never matches an ordering (no TypeError, no surprise)."""
    return (_number(value) and _number(operand)) or (isinstance(value, str) and isinstance(operand, str))


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    if _number(value) and _number(operand):
        return bool(value == operand)
    return type(value) is type(operand) and value == operand if value is not None else operand is None
