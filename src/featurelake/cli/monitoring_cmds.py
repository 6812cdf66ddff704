"""check-freshness: the freshness monitor's check from a shell (cron, CI, a person)."""

from __future__ import annotations

from typing import Annotated

import typer

from featurelake.cli.common import ConfOption, app, out
from featurelake.config import load_config


@app.command("check-freshness")
def check_freshness_cmd(
    views: Annotated[list[str] | None, typer.Argument(help="Views to check (default: all).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Check as of this ISO time (UTC when naive) instead of now.")
    ] = None,
    alert: Annotated[bool, typer.Option("--alert/--no-alert", help="Send alerts for stale views.")] = True,
    conf: ConfOption = None,
) -> None:
    """Check views against their freshness_sla; exit 1 (and alert) when one is stale."""
    from featurelake.monitoring.alerts import Alert, resolve_targets, send_alert
    from featurelake.monitoring.freshness import check_freshness, parse_as_of, stale_error
    from featurelake.registry import load_registry

    config = load_config(conf)
    checks = check_freshness(config, load_registry(config), views or None, as_of=parse_as_of(as_of))
    for check in checks:
        out.print(check.line())
    error = stale_error(checks)
    if error is None:
        return
    if alert:
        stale = [c.view for c in checks if c.stale]
        title = f"{len(stale)} feature view(s) are stale: {', '.join(stale)}"
        # The checks are on stdout and the error follows: the alert is not logged a third time.
        report = send_alert(Alert("stale", title, str(error), {"views": stale}), resolve_targets(), log_alert=False)
        if report.delivered:
            out.print(f"alert sent: {', '.join(report.delivered)}")
        elif not report.failed:
            out.print("no alert target configured (FEATURELAKE_ALERT_WEBHOOK_URL, FEATURELAKE_ALERT_EMAIL_TO)")
    raise error
