"""Freshness checks at their edges (exactly the SLA old, never published, no SLA), from
Redis watermarks and from published statistics, and alert delivery to a webhook and SMTP."""

from __future__ import annotations

import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.monitoring.alerts import Alert, AlertTargets, resolve_targets, send_alert
from featurelake.monitoring.freshness import BadTimeError, check_freshness, parse_as_of, stale_error
from featurelake.online.keys import watermark_key
from featurelake.registry.compile import compile_repo
from featurelake.registry.model import Registry
from featurelake.registry.store import RegistryStore
from featurelake.validation.stats import FeatureStats, store_stats

SHIPPED = Path(__file__).resolve().parents[2] / "feature_specs"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OFFLINE = "product_popularity"  # sla 26h
ONLINE = "user_stats"  # sla 2d


@pytest.fixture()
def project(tmp_path: Path, make_test_conf, redis_server, redis_client) -> tuple[FeaturelakeConfig, Registry]:  # type: ignore[no-untyped-def]
    config = load_config(make_test_conf(tmp_path, redis_server.url, tmp_path / "lake"), env={})
    registry = compile_repo(SHIPPED, config.project)
    offline = registry.views[OFFLINE].model_copy(update={"online": False})
    registry = registry.model_copy(update={"views": {**registry.views, OFFLINE: offline}})
    RegistryStore(config.lake_root).apply(registry, None)
    return config, registry


def _publish_stats(config: FeaturelakeConfig, registry: Registry, day: date, newest: datetime) -> None:
    view = registry.views[OFFLINE]
    stats = FeatureStats(OFFLINE, view.version, day, 10, "test", {}, int(newest.timestamp() * 1_000_000))
    store_stats(config.lake_root, view, [stats], day, day)


def _watermark(config: FeaturelakeConfig, registry: Registry, newest: datetime) -> None:
    key = watermark_key(registry.project, ONLINE, registry.views[ONLINE].version)
    client = redis.Redis.from_url(config.redis.url)
    client.hset(key, mapping={"delta_version": 3, "max_event_us": int(newest.timestamp() * 1_000_000)})


def _verdicts(config: FeaturelakeConfig, registry: Registry) -> dict[str, bool]:
    return {c.view: c.stale for c in check_freshness(config, registry, [OFFLINE, ONLINE], as_of=NOW)}


def test_exactly_the_sla_old_is_fresh_one_second_more_is_stale(project) -> None:  # type: ignore[no-untyped-def]
    config, registry = project
    _publish_stats(config, registry, date(2026, 3, 9), NOW - timedelta(hours=26))
    _watermark(config, registry, NOW - timedelta(days=2))
    assert _verdicts(config, registry) == {OFFLINE: False, ONLINE: False}
    _publish_stats(config, registry, date(2026, 3, 9), NOW - timedelta(hours=26, seconds=1))
    _watermark(config, registry, NOW - timedelta(days=2, seconds=1))
    assert _verdicts(config, registry) == {OFFLINE: True, ONLINE: True}


def test_the_newest_published_day_counts_and_an_emptied_day_stops_counting(project) -> None:  # type: ignore[no-untyped-def]
    config, registry = project
    _watermark(config, registry, NOW)
    _publish_stats(config, registry, date(2026, 3, 1), datetime(2026, 3, 1, 23, tzinfo=UTC))
    _publish_stats(config, registry, date(2026, 3, 10), datetime(2026, 3, 10, 1, tzinfo=UTC))
    assert _verdicts(config, registry)[OFFLINE] is False
    # Republishing 2026-03-10 with no rows removes it: the newest data is now 9 days old.
    store_stats(config.lake_root, registry.views[OFFLINE], [], date(2026, 3, 10), date(2026, 3, 10))
    assert _verdicts(config, registry)[OFFLINE] is True


def test_never_published_is_stale_and_no_sla_is_never_stale(project) -> None:  # type: ignore[no-untyped-def]
    config, registry = project
    checks = {c.view: c for c in check_freshness(config, registry, as_of=NOW)}
    assert all(c.stale and c.newest_event_us is None for c in checks.values())
    assert "never" in checks[ONLINE].line() and "(in redis)" in checks[ONLINE].line()
    no_sla = registry.views[ONLINE].model_copy(update={"freshness_sla": None})
    relaxed = registry.model_copy(update={"views": {**registry.views, ONLINE: no_sla}})
    check = check_freshness(config, relaxed, [ONLINE], as_of=NOW)[0]
    assert not check.stale and check.line().startswith("no SLA")
    error = stale_error(list(checks.values()))
    assert error is not None and f"{len(checks)} feature view(s)" in str(error)


def test_as_of_is_iso_and_naive_means_utc() -> None:
    assert parse_as_of("2026-03-10T12:00:00") == NOW
    assert parse_as_of("2026-03-10T13:00:00+01:00") == NOW
    assert parse_as_of(None) is None
    with pytest.raises(BadTimeError, match="not an ISO time"):
        parse_as_of("yesterday")


class _SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP (EHLO/MAIL/RCPT/DATA/QUIT) to receive what smtplib sends."""

    allow_reuse_address = True

    def __init__(self) -> None:
        self.messages: list[str] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 sink\r\n")
                while line := self.rfile.readline():
                    verb = line.decode().strip().split(" ")[0].upper()
                    if verb == "DATA":
                        self.wfile.write(b"354 go\r\n")
                        body = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            body.append(chunk.decode())
                        sink.messages.append("".join(body))
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    self.wfile.write(b"250 ok\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture()
def sinks(webhook) -> Iterator[tuple[Any, _SmtpSink]]:  # type: ignore[no-untyped-def]
    smtp = _SmtpSink()
    yield webhook, smtp
    smtp.shutdown()


def test_an_alert_reaches_the_webhook_and_the_mailbox_and_secrets_stay_out_of_logs(sinks, caplog) -> None:  # type: ignore[no-untyped-def]
    hook, smtp = sinks
    env = {
        "FEATURELAKE_ALERT_WEBHOOK_URL": hook.url,
        "FEATURELAKE_ALERT_EMAIL_TO": "oncall@example.com, risk@example.com",
        "FEATURELAKE_SMTP_URL": f"smtp://127.0.0.1:{smtp.server_address[1]}",
    }
    targets = resolve_targets(env)
    report = send_alert(Alert("stale", "user_stats is stale", "newest event 3d ago", {"view": "user_stats"}), targets)
    assert report.failed == () and len(report.delivered) == 2
    assert hook.received == [{"text": "user_stats is stale\nnewest event 3d ago", "kind": "stale",
                              "title": "user_stats is stale", "details": {"view": "user_stats"}}]  # fmt: skip
    assert "Subject: [featurelake] user_stats is stale" in smtp.messages[0]
    assert "oncall@example.com, risk@example.com" in smtp.messages[0]
    assert "s3cret" not in caplog.text and "s3cret" not in repr(targets)


def test_an_unreachable_webhook_is_reported_not_raised(caplog) -> None:  # type: ignore[no-untyped-def]
    from featurelake.online.redis_server import free_port

    targets = AlertTargets(webhook_url=f"http://127.0.0.1:{free_port()}/x?token=s3cret")
    report = send_alert(Alert("stale", "t", "x"), targets, timeout_s=2)
    assert report.delivered == () and report.failed == ("webhook 127.0.0.1",)
    assert "s3cret" not in caplog.text


def test_check_freshness_cli_exits_1_and_alerts_when_stale(project, sinks) -> None:  # type: ignore[no-untyped-def]
    config, registry = project
    hook, _ = sinks
    _publish_stats(config, registry, date(2026, 3, 9), NOW - timedelta(hours=30))
    _watermark(config, registry, NOW - timedelta(hours=1))
    cli = [str(Path(sys.executable).parent / "featurelake"), "check-freshness", "--conf", str(config.source_file)]
    env = {"FEATURELAKE_ALERT_WEBHOOK_URL": hook.url, "PATH": str(Path(sys.executable).parent)}
    fresh = subprocess.run([*cli, ONLINE, "--as-of", NOW.isoformat()], capture_output=True, text=True, env=env)
    assert fresh.returncode == 0 and fresh.stdout.startswith("fresh  user_stats v1")
    assert hook.received == []
    stale = subprocess.run(
        [*cli, OFFLINE, ONLINE, "--as-of", "2026-03-10T12:00:00"], capture_output=True, text=True, env=env
    )
    assert stale.returncode == 1
    assert "STALE  product_popularity v1" in stale.stdout and "1 feature view(s) breach" in stale.stderr
    assert [a["details"]["views"] for a in hook.received] == [[OFFLINE]]
