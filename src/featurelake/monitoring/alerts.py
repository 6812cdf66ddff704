"""Alerts: always logged; also POSTed to a webhook and/or emailed when configured.

Targets come from the environment or an Airflow connection, never from YAML:
- `FEATURELAKE_ALERT_WEBHOOK_URL`: JSON POST (Slack-compatible `text` plus the details);
- `FEATURELAKE_ALERT_EMAIL_TO` (comma-separated) with `FEATURELAKE_SMTP_URL`
  (`smtp://user:password@host:port`, `smtps://` for implicit TLS) and optionally
  `FEATURELAKE_ALERT_EMAIL_FROM`;
- inside Airflow, the connection `featurelake_alerts` (or `$FEATURELAKE_ALERT_CONN_ID`)
  with extras `webhook_url`, `email_to`, `smtp_url`; environment variables win.
URLs and passwords are secrets: logs name a target by its host only.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("featurelake.alerts")
DEFAULT_CONN_ID = "featurelake_alerts"


@dataclass(frozen=True)
class Alert:
    kind: str  # "stale" or "task_failed"
    title: str
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        text = f"{self.title}\n{self.text}"
        return {"text": text, "kind": self.kind, "title": self.title, "details": dict(self.details)}


@dataclass(frozen=True, repr=False)
class AlertTargets:
    webhook_url: str | None = None
    email_to: tuple[str, ...] = ()
    smtp_url: str | None = None
    email_from: str = "featurelake@localhost"

    def __repr__(self) -> str:  # never print the secrets
        webhook = _host(self.webhook_url) if self.webhook_url else None
        return f"AlertTargets(webhook={webhook}, email_to={list(self.email_to)})"

    def merged_over(self, other: AlertTargets) -> AlertTargets:
        return AlertTargets(
            self.webhook_url or other.webhook_url,
            self.email_to or other.email_to,
            self.smtp_url or other.smtp_url,
            self.email_from,
        )


@dataclass(frozen=True)
class AlertReport:
    delivered: tuple[str, ...]
    failed: tuple[str, ...]


def _host(url: str | None) -> str:
    return urlsplit(url or "").hostname or "?"


def _emails(text: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


def targets_from_env(env: Mapping[str, str] | None = None) -> AlertTargets:
    env = os.environ if env is None else env
    return AlertTargets(
        webhook_url=env.get("FEATURELAKE_ALERT_WEBHOOK_URL") or None,
        email_to=_emails(env.get("FEATURELAKE_ALERT_EMAIL_TO")),
        smtp_url=env.get("FEATURELAKE_SMTP_URL") or None,
        email_from=env.get("FEATURELAKE_ALERT_EMAIL_FROM") or "featurelake@localhost",
    )


def targets_from_airflow(conn_id: str) -> AlertTargets:
    """The connection's extras, when running inside Airflow and the connection exists."""
    try:
        from airflow.sdk import BaseHook

        extra = BaseHook.get_connection(conn_id).extra_dejson
    except Exception:  # not inside Airflow, or no such connection: env targets only
        return AlertTargets()
    return AlertTargets(
        webhook_url=extra.get("webhook_url") or None,
        email_to=_emails(extra.get("email_to")),
        smtp_url=extra.get("smtp_url") or None,
    )


def resolve_targets(env: Mapping[str, str] | None = None, use_airflow: bool = False) -> AlertTargets:
    env = os.environ if env is None else env
    targets = targets_from_env(env)
    if use_airflow:
        targets = targets.merged_over(targets_from_airflow(env.get("FEATURELAKE_ALERT_CONN_ID", DEFAULT_CONN_ID)))
    return targets


def send_alert(alert: Alert, targets: AlertTargets, timeout_s: float = 10.0, log_alert: bool = True) -> AlertReport:
    """Log the alert (unless the caller already showed it), then deliver it to each
    configured target; delivery errors are logged (without secrets) and reported, never
    raised: the alert must not hide the failure."""
    if log_alert:
        log.error("featurelake alert [%s] %s\n%s", alert.kind, alert.title, alert.text)
    delivered, failed = [], []
    if targets.webhook_url:
        name = f"webhook {_host(targets.webhook_url)}"
        try:
            _post_webhook(targets.webhook_url, alert, timeout_s)
            delivered.append(name)
        except Exception as exc:
            log.error("alert delivery to %s failed: %s", name, type(exc).__name__)
            failed.append(name)
    if targets.email_to:
        name = f"email to {len(targets.email_to)} recipient(s)"
        try:
            _send_email(targets, alert, timeout_s)
            delivered.append(name)
        except Exception as exc:
            log.error("alert delivery by %s failed: %s", name, type(exc).__name__)
            failed.append(name)
    return AlertReport(tuple(delivered), tuple(failed))


def _post_webhook(url: str, alert: Alert, timeout_s: float) -> None:
    body = json.dumps(alert.payload(), default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        response.read()


def _send_email(targets: AlertTargets, alert: Alert, timeout_s: float) -> None:
    if not targets.smtp_url:
        raise ValueError("FEATURELAKE_SMTP_URL (or the connection's smtp_url) is not set")
    parts = urlsplit(targets.smtp_url)
    message = EmailMessage()
    message["Subject"] = f"[featurelake] {alert.title}"
    message["From"] = targets.email_from
    message["To"] = ", ".join(targets.email_to)
    message.set_content(alert.text)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=timeout_s) as smtp:
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)
