"""Spec expressions are Spark SQL *expressions*, checked against an allow-list.

Parsed with sqlglot's Spark dialect (no JVM). Allowed: column references, literals,
operators, CASE/IF/CAST and the functions in ALLOWED_FUNCTIONS. Everything else
(`reflect`, `java_method`, UDFs, subqueries, lambdas, window or aggregate functions,
statements and `;`) is rejected at validate time with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

# Node kinds that are operators or structure, not function calls.
_STRUCTURE = {
    "Column", "Identifier", "Literal", "Null", "Boolean", "Paren", "DataType", "Var",
    "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "Neg", "Not", "And", "Or", "Xor",
    "EQ", "NEQ", "NullSafeEQ", "NullSafeNEQ", "GT", "GTE", "LT", "LTE", "Is", "In",
    "Between", "Like", "ILike", "RLike", "RegexpLike", "Case", "If", "Cast", "TryCast",
    "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "DPipe", "Tuple", "Interval",
}  # fmt: skip

# Spark functions allowed in specs (lower-case SQL names). Pure, row-level, no side effects.
ALLOWED_FUNCTIONS = {
    "abs", "ceil", "ceiling", "floor", "round", "bround", "sqrt", "cbrt", "exp", "ln", "log",
    "log10", "log2", "pow", "power", "sign", "signum", "greatest", "least", "mod", "pmod",
    "coalesce", "nullif", "ifnull", "nvl", "nvl2", "if", "isnull", "isnotnull", "nanvl",
    "upper", "lower", "ucase", "lcase", "length", "char_length", "trim", "ltrim", "rtrim",
    "substring", "substr", "concat", "concat_ws", "regexp_extract", "regexp_replace",
    "split", "lpad", "rpad", "replace", "initcap", "left", "right", "instr", "locate",
    "size", "cardinality", "element_at", "array", "array_contains", "array_max",
    "array_min", "slice", "md5", "sha1", "sha2", "crc32", "hash", "xxhash64",
    "to_date", "to_timestamp", "date_trunc", "trunc", "datediff", "date_add", "date_sub",
    "date_diff", "timestamp_trunc", "year", "month", "day", "dayofmonth", "dayofweek",
    "dayofyear", "hour", "minute", "second", "weekofyear", "quarter", "unix_timestamp",
    "from_unixtime", "months_between", "current_date", "str_to_date", "str_to_time",
    "ts_or_ds_to_date", "time_str_to_time", "unix_to_time", "time_to_unix", "date_from_parts",
    "array_size", "length_bytes", "substring_index", "string", "double", "int", "bigint",
    "float", "boolean", "regexp_extract_all", "starts_with", "startswith", "ends_with",
    "endswith", "contains", "try_divide", "safe_divide", "div", "day_of_week",
    "day_of_month", "day_of_year", "week_of_year", "to_unix_timestamp",
}  # fmt: skip

_FORBIDDEN_HINTS = {
    "reflect": "calls Java methods",
    "java_method": "calls Java methods",
    "try_reflect": "calls Java methods",
    "assert_true": "has side effects",
    "raise_error": "has side effects",
    "input_file_name": "depends on the physical file",
}


class ExpressionNotAllowed(ValueError):
    """An expression that is not a safe, row-level Spark SQL expression."""


@dataclass(frozen=True)
class CheckedExpression:
    sql: str
    columns: frozenset[str]


def _function_name(node: Any) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return str(node.sql_name()).lower()


def _check_node(node: Any) -> None:
    kind = type(node).__name__
    if isinstance(node, exp.Subquery | exp.Select | exp.Query):
        raise ExpressionNotAllowed("subqueries are not allowed; reference source columns instead")
    if isinstance(node, exp.Window):
        raise ExpressionNotAllowed("window functions (OVER) are not allowed; use `aggregation:`")
    if isinstance(node, exp.AggFunc):
        raise ExpressionNotAllowed(
            f"aggregate function {_function_name(node)}() is not allowed in an expression; "
            "declare it as `aggregation: {function: ..., window: ...}`"
        )
    if isinstance(node, exp.Lambda):
        raise ExpressionNotAllowed("lambda functions are not allowed in spec expressions")
    if isinstance(node, exp.Column) and node.table:
        raise ExpressionNotAllowed(f"qualified column {node.sql()} is not allowed; use the bare column name")
    if isinstance(node, exp.Func) and kind not in _STRUCTURE:
        name = _function_name(node)
        if name in _FORBIDDEN_HINTS:
            raise ExpressionNotAllowed(f"function {name}() {_FORBIDDEN_HINTS[name]} and is not allowed")
        if name not in ALLOWED_FUNCTIONS:
            raise ExpressionNotAllowed(
                f"function {name}() is not on the allow-list (UDFs and unknown functions are "
                "refused); see docs/specs.md for the functions you can use"
            )
        return
    if kind not in _STRUCTURE and not isinstance(node, exp.Func):
        raise ExpressionNotAllowed(f"{kind} is not allowed in a feature expression")


def check_expression(sql: str) -> CheckedExpression:
    """Parse and allow-list one expression; returns it with the columns it reads."""
    if ";" in sql:
        raise ExpressionNotAllowed("`;` is not allowed: an expression is not a statement")
    try:
        parsed = sqlglot.parse(sql, read="spark")
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ExpressionNotAllowed(f"not a valid Spark SQL expression: {first}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ExpressionNotAllowed("exactly one expression is expected")
    tree = parsed[0]
    if isinstance(tree, exp.Alias):
        raise ExpressionNotAllowed("aliases (AS) are not allowed: the feature name is the alias")
    for node in tree.walk():
        _check_node(node)
    columns = frozenset(str(col.name) for col in tree.find_all(exp.Column))
    return CheckedExpression(sql=sql, columns=columns)
