"""Checks -> a Great Expectations suite, validation definition and checkpoint for one view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurelake.validation.checks import Check, duplicates_query, rows_query
from featurelake.validation.context import DATASOURCE, SITE

if TYPE_CHECKING:
    from great_expectations import Checkpoint
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext
    from great_expectations.expectations.expectation import Expectation

GX_SEVERITY = {"error": "critical", "warn": "warning", "info": "info"}
CHECK_META = "featurelake_check"
SAMPLES = 5


def to_expectation(check: Check, offending: str | None = None) -> Expectation:
    """`offending`: the checks' shared offending-rows query (`offending_rows_query`), if any."""
    import great_expectations.expectations as gxe

    from featurelake.validation.expectations import UnexpectedRowCountExpectation

    common: dict[str, Any] = {
        # Data Docs does not show severities: the description says when a check never blocks.
        "description": f"{check.description} (warn: never blocks)" if check.severity == "warn" else check.description,
        "severity": GX_SEVERITY[check.severity],
        "meta": {CHECK_META: check.name, "featurelake_severity": check.severity},
    }
    if check.kind == "rows":
        return UnexpectedRowCountExpectation(unexpected_rows_query=rows_query(check, offending), **common)
    if check.kind == "duplicates":
        query = duplicates_query(check.kwargs["column_list"])
        return UnexpectedRowCountExpectation(unexpected_rows_query=query, **common)
    cls = getattr(gxe, check.kind)
    column = {"column": check.column} if check.column else {}
    expectation: Expectation = cls(**column, **check.kwargs, **common)
    return expectation


def view_checkpoint(
    context: AbstractDataContext, name: str, checks: list[Check], offending: str | None = None, samples: int = 0
) -> Checkpoint:
    """Create or replace the suite, validation definition and checkpoint called `name`.

    The suite is rebuilt from the checks on every run, so it always matches the specs.
    `offending`: the row checks' shared query (`offending_rows_query`), when the gate cached it.
    `samples`: how many unexpected values each column check lists (`partial_unexpected_list`).
    """
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    # Callers cache the batch before validating it (publish_rows, validate_published): a second
    # persist() by Great Expectations only made Spark warn "Asked to cache already cached data".
    source = context.data_sources.add_or_update_spark(name=DATASOURCE, persist=False)
    existing = {asset.name: asset for asset in source.assets}
    asset = existing.get(name) or source.add_dataframe_asset(name=name)
    batch = (
        asset.batch_definitions[0] if asset.batch_definitions else asset.add_batch_definition_whole_dataframe("batch")
    )
    suite = gx.ExpectationSuite(name=name, expectations=[to_expectation(c, offending) for c in checks])
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    # BASIC: the unexpected count (and `samples` unexpected values). SUMMARY's value counts and
    # index list cost two more scans of the batch per column check on every run; the gate asks
    # for the index list (the days) of failed checks only. Listing values is a scan of the batch
    # per column check too, passing or not: with none asked for, Spark plans no job for it.
    result_format = {"result_format": "BASIC", "partial_unexpected_count": samples}
    checkpoint = gx.Checkpoint(
        name=name,
        validation_definitions=[definition],
        actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
        result_format=result_format,
    )
    return context.checkpoints.add_or_update(checkpoint)
