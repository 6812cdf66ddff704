"""What the generated DAGs' Python tasks run: small, importable, testable without Airflow.

Each takes the conf path and plain strings (rendered templates), loads the config and the
applied registry itself, and raises a typed error to fail the task.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from featurelake.config import load_config
from featurelake.monitoring.alerts import Alert, resolve_targets, send_alert
from featurelake.monitoring.freshness import StaleFeaturesError, check_freshness, parse_as_of, stale_error
from featurelake.registry import load_registry
from featurelake.validation.records import require_published

log = logging.getLogger("featurelake.orchestration")


def validation_gate(conf_path: str, view: str, start: str, end: str) -> dict[str, Any]:
    """Fail unless the compute task's validation of [start, end] passed and was published."""
    config = load_config(conf_path)
    spec = load_registry(config).view(view)
    record = require_published(config.lake_root, view, spec.version, date.fromisoformat(start), date.fromisoformat(end))
    log.info("%s", record.summary)
    return {"rows": record.rows, "delta_version": record.delta_version, "data_docs": record.data_docs}


def check_view_freshness(conf_path: str, view: str, as_of: str | None = None) -> str:
    """Check one view against its freshness_sla, as of `as_of` (ISO time; None: now).

    A breach sends an alert and fails the task (red in the UI)."""
    config = load_config(conf_path)
    registry = load_registry(config)
    checks = check_freshness(config, registry, [view], as_of=parse_as_of(as_of))
    for check in checks:
        log.info("%s", check.line())
    error = stale_error(checks)
    if error is not None:
        alert = Alert("stale", f"feature view {view} is stale", str(error), {"view": view, "as_of": as_of or "now"})
        send_alert(alert, resolve_targets(use_airflow=True))
        raise error
    return checks[0].line()


def alert_on_failure(context: Any) -> None:
    """on_failure_callback: alert about a task that failed for good (after its retries).

    A stale view has already alerted from its check; it is not alerted twice."""
    exception = context.get("exception")
    if isinstance(exception, StaleFeaturesError):
        return
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    details = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error": type(exception).__name__ if exception else None,
    }
    text = str(exception) if exception else "the task failed (see its log)"
    send_alert(Alert("task_failed", f"{dag_id}.{task_id} failed", text, details), resolve_targets(use_airflow=True))
