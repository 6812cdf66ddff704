"""What the validation gate decided for each published range, kept beside the lake.

One small JSON file per view version and day range:
`<lake_root>/_validation/runs/<view>/v<version>/<start>_<end>.json`. The Airflow DAG's
`validation_gate` task reads it to show (and enforce) the verdict of the interval it runs
for without starting Spark or Great Expectations; `published` says whether the rows reached
the Delta table.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date

from featurelake.errors import FeaturelakeError
from featurelake.storage import StorageNotFoundError, join, storage_for
from featurelake.validation.gate import ValidationOutcome


class GateRecordMissingError(FeaturelakeError):
    template = (
        "no validation was recorded for {view} v{version} day(s) {start}..{end} (looked for {path}); "
        "run `featurelake run {view} --date {start}` (the DAG's compute task) first"
    )


class GateRejectedError(FeaturelakeError):
    template = "the validation gate rejected {view} day(s) {start}..{end}, so nothing was published:\n{summary}"


@dataclass(frozen=True)
class GateRecord:
    view: str
    version: int
    start: str
    end: str
    run_name: str
    passed: bool
    published: bool
    rows: int
    delta_version: int | None
    summary: str
    data_docs: str
    recorded_at_us: int
    # Counts of the checks run, failed (blocking) and warned; absent in records before 0.x.
    checks: int | None = None
    failed: int | None = None
    warned: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def record_path(lake_root: str, view: str, version: int, start: date, end: date) -> str:
    return join(lake_root, "_validation", "runs", view, f"v{version}", f"{start}_{end}.json")


def write_gate_record(lake_root: str, outcome: ValidationOutcome, delta_version: int | None) -> str:
    """Atomically (re)write the record of one gate decision; a rerun replaces it."""
    record = GateRecord(
        view=outcome.view,
        version=outcome.version,
        start=outcome.start.isoformat(),
        end=outcome.end.isoformat(),
        run_name=outcome.run_name,
        passed=outcome.passed,
        published=delta_version is not None,
        rows=outcome.rows,
        delta_version=delta_version,
        summary=outcome.summary(),
        data_docs=outcome.data_docs,
        recorded_at_us=int(time.time() * 1_000_000),
        checks=len(outcome.results),
        failed=len(outcome.failures),
        warned=len(outcome.warnings),
    )
    target = record_path(lake_root, outcome.view, outcome.version, outcome.start, outcome.end)
    storage_for(target).write(target, record.to_json().encode())
    return target


def read_gate_record(lake_root: str, view: str, version: int, start: date, end: date) -> GateRecord:
    """The recorded decision; GateRecordMissingError when the range was never validated."""
    path = record_path(lake_root, view, version, start, end)
    try:
        return GateRecord(**json.loads(storage_for(path).read(path)))
    except StorageNotFoundError:
        raise GateRecordMissingError(view=view, version=version, start=start, end=end, path=path) from None


def gate_records(lake_root: str, view: str, version: int) -> list[GateRecord]:
    """Every recorded decision of a view version, oldest range first."""
    folder = join(lake_root, "_validation", "runs", view, f"v{version}")
    storage = storage_for(folder)
    records = []
    for name in storage.list(folder):
        if name.endswith(".json"):
            fields = json.loads(storage.read(join(folder, name)))
            records.append(GateRecord(**{k: v for k, v in fields.items() if k in GateRecord.__dataclass_fields__}))
    return sorted(records, key=lambda r: (r.start, r.end))


def require_published(lake_root: str, view: str, version: int, start: date, end: date) -> GateRecord:
    """The record of a range that passed the gate and was published, or a typed error."""
    record = read_gate_record(lake_root, view, version, start, end)
    if not (record.passed and record.published):
        raise GateRejectedError(view=view, start=start, end=end, summary=record.summary)
    return record
