"""The gate: validate a batch of a view's rows with Great Expectations before it is published.

`validate_rows` runs the view's checkpoint on a Spark DataFrame (the batch), rebuilds
Data Docs and returns a `ValidationOutcome`; callers publish only when `outcome.passed`.
Only blocking checks (severity error) decide; `warn` and drift (`info`) are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from featurelake.offline.tables import EVENT_TIMESTAMP, PARTITION
from featurelake.registry.model import Registry
from featurelake.storage import is_object_store, join
from featurelake.validation.assets import localize_data_docs
from featurelake.validation.checks import Check, as_gx_query, duplicates_query, offending_rows_query, view_checks
from featurelake.validation.context import ValidationPaths, validation_context, validation_lock
from featurelake.validation.preload import wait_for_imports
from featurelake.validation.stats import previous_stats
from featurelake.validation.suite import CHECK_META, SAMPLES, to_expectation, view_checkpoint

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class CheckResult:
    check: Check
    success: bool
    unexpected_count: int | None = None
    observed: Any = None
    samples: tuple[str, ...] = ()
    days: tuple[str, ...] = ()
    error: str | None = None

    def line(self) -> str:
        mark = {"error": "FAILED", "warn": "warning", "info": "drift"}[self.check.severity]
        parts = [f"  {mark:<7} {self.check.description}"]
        if self.check.column:
            parts.append(f"column {self.check.column}")
        if self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} unexpected")
        elif self.observed is not None:
            parts.append(f"observed {_short(self.observed)}")
        if self.days:
            parts.append(f"day(s) {', '.join(self.days)}")
        if self.samples:
            parts.append(f"e.g. {', '.join(self.samples)}")
        if self.error:
            parts.append(f"could not be evaluated: {self.error}")
        return "; ".join(parts)


@dataclass(frozen=True)
class ValidationOutcome:
    view: str
    version: int
    start: date
    end: date
    rows: int
    run_name: str
    results: tuple[CheckResult, ...]
    data_docs: str
    seconds: float

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.check.blocking]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and not r.check.blocking]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} blocking)"
        head = (
            f"validation of {self.view} v{self.version}, day(s) {self.start}..{self.end}, {self.rows} rows: "
            f"{verdict}; {len(self.results)} checks, {len(self.warnings)} warning(s)"
        )
        lines = [head, *(r.line() for r in self.failures), *(r.line() for r in self.warnings)]
        return "\n".join([*lines, f"  Data Docs: {self.data_docs}"])


def run_name(view: str, start: date, end: date, purpose: str) -> str:
    """Also a folder name in the results store and Data Docs: no spaces."""
    return f"{view}_{start}_to_{end}_{purpose}"


def validate_rows(
    registry: Registry,
    view_name: str,
    rows: DataFrame,
    start: date,
    end: date,
    paths: ValidationPaths,
    purpose: str = "publish",
) -> ValidationOutcome:
    """Validate `rows` (days [start, end] of the view) and rebuild Data Docs; raises nothing on bad data.

    `rows` should be cached (or a projection of cached data): Great Expectations runs one
    Spark job per metric group over it.
    """
    wait_for_imports()
    from great_expectations.core.run_identifier import RunIdentifier

    view = registry.view(view_name)
    checks = view_checks(registry, view, start, end, previous_stats(paths.lake_root, view, start))
    context = validation_context(str(paths.gx_root), str(paths.local_reports_dir))
    name = f"{view.name}_v{view.version}"
    keys = registry.join_keys(view_name)
    label = run_name(view.name, start, end, purpose)
    started = time.monotonic()
    by_name = {c.name: c for c in checks}
    cached: list[DataFrame] = []
    try:
        # Also fills the batch's cache (when it is cached), before the lock is taken.
        offending = _cache_shared_queries(rows, checks, cached)
        with validation_lock(paths.gx_root):
            built_after = time.time() - 1
            run_id = RunIdentifier(run_name=label, run_time=datetime.now(UTC))
            checkpoint = view_checkpoint(context, name, checks, offending)
            validation = _run_checkpoint(checkpoint, rows, run_id)
            failed = [c for c, r in _checked(validation, by_name) if _failed_column_check(c, r)]
            if any(c.blocking for c in failed):
                # A blocked batch: run again listing unexpected values, for the report its fix
                # starts from. The same run id: its stored result and Data Docs page replace the
                # first run's. (Warnings, which many runs have, list theirs in the summary only.)
                checkpoint = view_checkpoint(context, name, checks, offending, samples=SAMPLES)
                validation = _run_checkpoint(checkpoint, rows, run_id)
            localize_data_docs(paths.local_reports_dir, paths.web_assets_dir, since=built_after)
            paths.publish_reports(since=built_after)
            listed = _listed_failures(checkpoint, rows, failed, keys)
    finally:
        for frame in cached:
            frame.unpersist()
    results = tuple(_check_result(c, r, rows, keys, listed) for c, r in _checked(validation, by_name))
    return ValidationOutcome(
        view.name,
        view.version,
        start,
        end,
        _batch_rows(validation, rows),
        label,
        results,
        _run_page(paths, name, label) or paths.data_docs_index,
        time.monotonic() - started,
    )


def _cache_shared_queries(rows: DataFrame, checks: list[Check], cached: list[DataFrame]) -> str | None:
    """Run and cache, once, what several of Great Expectations' queries would each compute over
    the whole batch: the rows any row check selects (`offending_rows_query`) and the uniqueness
    check's groups (its count and its rows query each group every row).

    They run as Great Expectations runs its queries (same SQL, same view name), so Spark's
    cache manager substitutes the results into them. What this call caches is appended to
    `cached`, for the caller to unpersist (a query already cached, as a row view's backfill
    caches the uniqueness query, is left alone). Returns the offending-rows query, None when
    there is none or it cannot run on this batch (a column missing: each check then reports
    its own error)."""
    from pyspark.errors import AnalysisException

    offending = offending_rows_query(checks)
    queries = [offending, *[duplicates_query(c.kwargs["column_list"]) for c in checks if c.kind == "duplicates"]]
    for query in queries:
        if query is None:
            continue
        try:
            frame = as_gx_query(rows, query)
            if not (frame.storageLevel.useMemory or frame.storageLevel.useDisk):
                cached.append(frame.persist())
                frame.count()
        except AnalysisException:
            offending = None if query == offending else offending
    return offending


def _run_checkpoint(checkpoint: Any, rows: DataFrame, run_id: Any) -> Any:
    """The checkpoint's one validation result (a suite's results) over `rows`."""
    result = checkpoint.run(batch_parameters={"dataframe": rows}, run_id=run_id)
    (validation,) = result.run_results.values()
    return validation


def _batch_rows(validation: Any, rows: DataFrame) -> int:
    """The batch's rows, as Great Expectations counted them for its column checks (`element_count`;
    every suite has one, the entity keys' not-null check); counted here only if none reported it."""
    for result in validation.results:
        counted = (result.result or {}).get("element_count")
        if isinstance(counted, int):
            return counted
    return rows.count()


def _checked(validation: Any, by_name: dict[str, Check]) -> list[tuple[Check, Any]]:
    return [(by_name[_check_name(r)], r) for r in validation.results]


def _failed_column_check(check: Check, result: Any) -> bool:
    """A failed expectation over a column's values (it counts unexpected values), evaluated."""
    raised = (result.exception_info or {}).get("raised_exception")
    counted = "unexpected_count" in (result.result or {})
    return check.kind not in ("rows", "duplicates") and not result.success and not raised and counted


def _listed_failures(
    checkpoint: Any, rows: DataFrame, failed: list[Check], keys: list[str]
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """(days, values) of a few offending rows of each failed column check, from Great
    Expectations' index list and unexpected values, asked for only now: in the checkpoint they
    would be more scans of the batch per check on every run, passing or not."""
    if not failed:
        return {}
    definition = checkpoint.validation_definitions[0]
    batch = definition.batch_definition.get_batch(batch_parameters={"dataframe": rows})
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLES,
                     "unexpected_index_column_names": [*keys, PARTITION]}  # fmt: skip
    listed = {}
    for check in failed:
        found = batch.validate(to_expectation(check), result_format=result_format).result
        indices = found.get("partial_unexpected_index_list") or []
        days = tuple(sorted({str(i.get(PARTITION)) for i in indices if isinstance(i, dict)}))
        listed[check.name] = (days, _samples(found))
    return listed


def _samples(details: dict[str, Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_short(v) for v in details.get("partial_unexpected_list") or []))


def _run_page(paths: ValidationPaths, suite: str, label: str) -> str | None:
    """The Data Docs page of this run (validations/<suite>/<run>/<time>/...), where readers find it."""
    folder = paths.local_reports_dir / "validations" / suite / label
    pages = sorted(folder.rglob("*.html"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not pages:
        return None
    relative = pages[-1].relative_to(paths.local_reports_dir).as_posix()
    if is_object_store(paths.reports_dir):
        return join(paths.reports_dir, relative)
    return str(paths.local_reports_dir / relative)


def _check_name(result: Any) -> str:
    config = result.expectation_config
    return str(config.meta[CHECK_META]) if config is not None and config.meta else ""


def _check_result(
    check: Check,
    result: Any,
    rows: DataFrame,
    keys: list[str],
    listed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
) -> CheckResult:
    if result.success:
        return CheckResult(check, True, observed=result.result.get("observed_value"))
    info = result.exception_info or {}
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "").strip().splitlines()
        return CheckResult(check, False, error=message[0][:300] if message else "unknown error")
    details = result.result
    count = details.get("unexpected_count")
    days, samples = listed.get(check.name, ((), _samples(details)))
    if check.kind == "rows":
        count = details.get("observed_value")
        samples, days = _offending_rows(rows, check, keys)
    if check.kind == "duplicates":
        count = details.get("observed_value")
        samples, days = _duplicated(rows, check.kwargs["column_list"])
    return CheckResult(check, False, count, details.get("observed_value"), samples, days)


def _offending_rows(rows: DataFrame, check: Check, keys: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A few rows a `rows` check selects (one small Spark job, only on failure)."""
    from pyspark.sql import functions as F

    shown = [*keys, EVENT_TIMESTAMP, PARTITION, *([check.column] if check.column else [])]
    picked = rows.where(F.expr(str(check.condition))).select(*[F.col(f"`{c}`") for c in shown if c in rows.columns])
    found = picked.limit(SAMPLES).collect()
    samples = tuple(_short(r.asDict()) for r in found)
    days = tuple(sorted({str(r.asDict()[PARTITION]) for r in found if PARTITION in r.asDict()}))
    return samples, days


def _duplicated(rows: DataFrame, columns: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A few duplicated (columns) values with their copies and days (one small Spark job, only on failure)."""
    from pyspark.sql import functions as F

    grouped = rows.groupBy(*[F.col(f"`{c}`").cast("string").alias(c) for c in columns]).agg(
        F.count(F.lit(1)).alias("copies"), F.array_sort(F.collect_set(F.col(PARTITION).cast("string"))).alias("_days")
    )
    found = [r.asDict() for r in grouped.where(F.col("copies") > 1).limit(SAMPLES).collect()]
    samples = tuple(_short({"copies": r["copies"], **{c: r[c] for c in columns}}) for r in found)
    return samples, tuple(sorted({d for r in found for d in r["_days"] if d}))


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
