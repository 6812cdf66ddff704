"""What a view's data must satisfy, as plain data (no Great Expectations import).

Three sources of checks, one list:
- built-in, for every view: the columns the table must have, entity keys not null,
  (keys, event_timestamp, created_timestamp) unique, every row inside its partition and
  inside the days being written, no event_timestamp in the future, embedding dims;
- the spec's `expectations` of each feature (`severity: warn` ones never block);
- drift against the previous published partition (severity `info`: reported, never blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from featurelake.offline.tables import CREATED_TIMESTAMP, EVENT_TIMESTAMP, PARTITION
from featurelake.registry.model import Registry
from featurelake.specs.models import FeatureView
from featurelake.validation.stats import FeatureStats

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Severity = Literal["error", "warn", "info"]
# Great Expectations' query metrics name the batch `tmp_view` (query_table, query_row_count):
# a query cached ahead of the gate must use that name to match theirs.
GX_BATCH_VIEW = "tmp_view"
NUMERIC = {"int64", "double"}
# Drift bounds: the batch's mean within this many of the previous partition's standard
# deviations, and its null rate at most this many points above the previous one.
DRIFT_MEAN_STDS = 0.5
DRIFT_NULL_RATE_POINTS = 0.05


@dataclass(frozen=True)
class Check:
    """One expectation. `kind` is a Great Expectations expectation class, `rows`: a SQL
    condition that selects the offending rows, or `duplicates`: the columns in `kwargs`
    that must identify a row (both UnexpectedRowsExpectation)."""

    name: str
    description: str
    kind: str
    severity: Severity = "error"
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    condition: str | None = None

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


def quoted(column: str) -> str:
    return f"`{column}`"


def view_checks(
    registry: Registry, view: FeatureView, start: date, end: date, previous: FeatureStats | None = None
) -> list[Check]:
    """Every check of `view` for a batch holding days [start, end]."""
    return [*builtin_checks(registry, view, start, end), *spec_checks(view), *drift_checks(view, previous)]


def builtin_checks(registry: Registry, view: FeatureView, start: date, end: date) -> list[Check]:
    keys = registry.join_keys(view.name)
    columns = [*keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *(f.name for f in view.features), PARTITION]
    checks = [
        Check(
            "columns",
            f"the table has exactly the columns {', '.join(columns)}",
            "ExpectTableColumnsToMatchSet",
            kwargs={"column_set": columns, "exact_match": True},
        ),
        *[
            Check(f"key_not_null:{k}", f"entity key {k} is never null", "ExpectColumnValuesToNotBeNull", column=k)
            for k in keys
        ],
        # One grouping query: Great Expectations' ExpectCompoundColumnsToBeUnique ran a window
        # over the batch in each of its 3-4 metric jobs, half the gate's time on 3.4M rows.
        Check(
            "unique_row",
            f"one row per ({', '.join(keys)}, event_timestamp, created_timestamp)",
            "duplicates",
            kwargs={"column_list": [*keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP]},
        ),
        Check(
            "inside_partition",
            "event_timestamp belongs to the row's date partition",
            "rows",
            condition=_outside_partition(view),
        ),
        Check(
            "inside_run",
            f"rows only for the days being validated, {start}..{end}",
            "rows",
            condition=f"{quoted(PARTITION)} IS NULL OR {quoted(PARTITION)} NOT BETWEEN DATE'{start}' AND DATE'{end}'",
        ),
        Check(
            "not_future",
            "event_timestamp is never in the future",
            "rows",
            condition=f"{quoted(EVENT_TIMESTAMP)} > current_timestamp()",
        ),
    ]
    for feature in view.features:
        if feature.dtype == "embedding" and feature.dim:
            col = quoted(feature.name)
            checks.append(
                Check(
                    f"embedding_dim:{feature.name}",
                    f"{feature.name} has dim {feature.dim}",
                    "rows",
                    column=feature.name,
                    condition=f"{col} IS NOT NULL AND size({col}) != {feature.dim}",
                )
            )
    return checks


def offending_rows_query(checks: list[Check]) -> str | None:
    """The rows any `rows` check selects, when there are several such checks; else None.

    Great Expectations runs two queries per `rows` check (a count and a fetch), each a full
    scan of the batch. The gate caches this one query instead (one scan, usually an empty
    result), and each check filters it: Spark's cache manager substitutes the cached result
    for the identical subquery, so the checks' queries read it instead of the batch."""
    conditions = [c.condition for c in checks if c.kind == "rows" and c.condition]
    if len(conditions) < 2:
        return None
    return "SELECT * FROM {batch} WHERE " + " OR ".join(f"({c})" for c in conditions)


def rows_query(check: Check, offending: str | None = None) -> str:
    """The query of a `rows` check: the rows its condition selects, from the offending rows if given."""
    source = f"({offending}) AS offending" if offending else "{batch}"
    return f"SELECT * FROM {source} WHERE {check.condition}"


def as_gx_query(rows: DataFrame, query: str) -> DataFrame:
    """`query` (with its `{batch}` placeholder) over `rows`, named as Great Expectations'
    query metrics name the batch: a cached result of it is what Spark's cache manager then
    substitutes into their identical query."""
    rows.createOrReplaceTempView(GX_BATCH_VIEW)
    return rows.sparkSession.sql(query.format(batch=GX_BATCH_VIEW))


def duplicates_query(columns: list[str]) -> str:
    """The (columns) values held by more than one row, with how many (`copies`)."""
    listed = ", ".join(quoted(c) for c in columns)
    return f"SELECT {listed}, count(*) AS copies FROM {{batch}} GROUP BY {listed} HAVING count(*) > 1"


def _outside_partition(view: FeatureView) -> str:
    ts, day = quoted(EVENT_TIMESTAMP), quoted(PARTITION)
    # Aggregated rows describe the day that ends at event_timestamp (midnight after `date`).
    expected = f"date_sub(to_date({ts}), 1)" if view.is_aggregated else f"to_date({ts})"
    wrong_time = f" OR {ts} != CAST(date_add({day}, 1) AS TIMESTAMP)" if view.is_aggregated else ""
    return f"{ts} IS NULL OR {day} IS NULL OR {day} != {expected}{wrong_time}"


def spec_checks(view: FeatureView) -> list[Check]:
    checks = []
    for feature in view.features:
        for exp in feature.expectations:
            args = exp.model_dump(exclude={"kind", "severity"})
            name, kind, kwargs, text = _spec_expectation(feature.name, exp.kind, args)
            checks.append(Check(name, text, kind, exp.severity, feature.name, kwargs))
    return checks


def _spec_expectation(column: str, kind: str, args: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    bounds = {"min_value": args.get("min"), "max_value": args.get("max")}
    shown = f"[{_bound(args.get('min'))}, {_bound(args.get('max'))}]"
    return {
        "not_null": (f"not_null:{column}", "ExpectColumnValuesToNotBeNull", {}, f"{column} is never null"),
        "unique": (f"unique:{column}", "ExpectColumnValuesToBeUnique", {}, f"{column} is unique"),
        "between": (f"between:{column}", "ExpectColumnValuesToBeBetween", bounds, f"{column} in {shown}"),
        "mean_between": (
            f"mean_between:{column}",
            "ExpectColumnMeanToBeBetween",
            bounds,
            f"mean of {column} in {shown}",
        ),
        "in_set": (
            f"in_set:{column}",
            "ExpectColumnValuesToBeInSet",
            {"value_set": args.get("values")},
            f"{column} in {args.get('values')}",
        ),
        "regex": (
            f"regex:{column}",
            "ExpectColumnValuesToMatchRegex",
            {"regex": args.get("pattern")},
            f"{column} matches /{args.get('pattern')}/",
        ),
    }[kind]


def _bound(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"


def drift_checks(view: FeatureView, previous: FeatureStats | None) -> list[Check]:
    """Informational checks against the previous published partition (none before the first)."""
    if previous is None:
        return []
    checks = []
    for feature in view.features:
        stats = previous.features.get(feature.name)
        if stats is None:
            continue
        ceiling = min(1.0, stats.null_rate + DRIFT_NULL_RATE_POINTS)
        checks.append(
            Check(
                f"drift_nulls:{feature.name}",
                f"drift: null rate of {feature.name} at most {ceiling:.1%} "
                f"(was {stats.null_rate:.1%} on {previous.day})",
                "ExpectColumnValuesToNotBeNull",
                "info",
                feature.name,
                {"mostly": round(1 - ceiling, 6)},
            )
        )
        if feature.dtype in NUMERIC and stats.mean is not None:
            spread = max(DRIFT_MEAN_STDS * (stats.stddev or 0.0), 0.05 * abs(stats.mean), 1e-9)
            lo, hi = stats.mean - spread, stats.mean + spread
            checks.append(
                Check(
                    f"drift_mean:{feature.name}",
                    f"drift: mean of {feature.name} in [{lo:.4g}, {hi:.4g}] "
                    f"(was {stats.mean:.4g} ± {stats.stddev or 0:.3g} on {previous.day})",
                    "ExpectColumnMeanToBeBetween",
                    "info",
                    feature.name,
                    {"min_value": lo, "max_value": hi},
                )
            )
    return checks
