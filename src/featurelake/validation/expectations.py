"""featurelake's own Great Expectations expectation class.

Importing this module imports Great Expectations: only after `preload.wait_for_imports()`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation


class UnexpectedRowCountExpectation(UnexpectedRowsExpectation):
    """An UnexpectedRowsExpectation that counts the rows its query selects and fetches none.

    Great Expectations' own computes two metrics for every such check: the row count and up to
    200 of the rows (`unexpected_rows_query.table`), each a Spark query with its own planning
    and job, then reports only the count under the BASIC and SUMMARY result formats. The gate
    uses only those formats and reads a failed check's rows itself (gate._offending_rows,
    gate._duplicated), so the fetch is dropped. Same description, renderers and result.
    """

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(
        self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None, execution_engine: Any = None
    ) -> dict[str, Any]:
        count = metrics["unexpected_rows_query.row_count"]
        return {"success": count == 0, "result": {"observed_value": count}}
