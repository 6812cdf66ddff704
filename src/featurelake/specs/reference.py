"""The spec reference in Markdown, generated from the models so docs cannot drift.

`featurelake schema --format markdown > docs/spec-reference.md`; a test keeps it in sync.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from featurelake.specs import models
from featurelake.specs.expressions import ALLOWED_FUNCTIONS

_SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("`entities:` items", models.Entity),
    ("`sources:` items", models.Source),
    ("`feature_view:`", models.FeatureView),
    ("`features:` items", models.Feature),
    ("`aggregation:`", models.Aggregation),
    ("`index:` (on an embedding feature)", models.VectorIndex),
    ("`feature_services:` items", models.FeatureService),
]
_EXPECTATIONS: list[tuple[str, type[BaseModel], str]] = [
    ("not_null", models.NotNull, "no nulls"),
    ("unique", models.Unique, "no duplicate values"),
    ("between", models.Between, "every value in [min, max] (either bound may be left out)"),
    ("mean_between", models.MeanBetween, "the batch mean in [min, max]"),
    ("in_set", models.InSet, "every value is one of `values`"),
    ("regex", models.Regex, "every value matches `pattern`"),
]


def _type_name(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "anyOf" in schema:
        return " \\| ".join(_type_name(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_type_name(schema.get('items', {}))}"
    if schema.get("type") == "object":
        return "mapping"
    return str(schema.get("type", "any"))


def _model_table(model: type[BaseModel]) -> list[str]:
    props = model.model_json_schema(ref_template="#/$defs/{model}")["properties"]
    rows = ["| key | type | required | default | meaning |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key == "kind":
            continue
        required = "yes" if field.is_required() else ""
        default = "" if field.is_required() or field.default in (None, PydanticUndefined) else field.default
        default_text = f"`{json.dumps(default)}`" if default not in ("", [], {}) else ""
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {_type_name(props[key])} | {required} | {default_text} | {description} |")
    return rows


def render_reference() -> str:
    lines = [
        "# Spec reference",
        "",
        "Generated from featurelake's models (`featurelake schema --format markdown`); do not edit by hand.",
        "The JSON Schema for editors is `docs/featurelake-spec.schema.json` (`featurelake schema`).",
        "A spec file is a mapping with any of `entities`, `sources`, `feature_view` (one per file) and",
        "`feature_services`. Unknown keys are errors. Names match `" + models.NAME_PATTERN + "`.",
        "Durations are a number and a unit: `90m`, `26h`, `7d`, `2w` (units s, m, h, d, w).",
    ]
    for title, model in _SECTIONS:
        doc = (model.__doc__ or "").strip()
        lines += ["", f"## {title}", ""] + ([doc, ""] if doc else []) + _model_table(model)
    lines += ["", "## Expectations", "", "Each is a bare name (`- not_null`) or a name with its arguments",
              "(`- between: {min: 0, max: 1}`). `severity: warn` among the arguments reports without blocking.", "",
              "| expectation | arguments | checks |", "|---|---|---|"]  # fmt: skip
    for name, model, meaning in _EXPECTATIONS:
        args = [f"`{k}`" for k in model.model_fields if k not in {"kind"}]
        lines.append(f"| `{name}` | {', '.join(args)} | {meaning} |")
    lines += ["", "## Functions allowed in expressions", "",
              "Besides column references, literals, arithmetic, comparison and boolean operators, `CASE`, `IF`,",
              "`CAST`, `IN (...)`, `BETWEEN`, `LIKE` and `RLIKE`:", "",
              ", ".join(f"`{f}`" for f in sorted(ALLOWED_FUNCTIONS)), ""]  # fmt: skip
    return "\n".join(lines)
