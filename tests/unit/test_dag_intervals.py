"""Which days a view DAG's run computes: its data interval, or for a run triggered without
a logical date, the last complete interval before it was made."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from featurelake.orchestration.dags import PRESET_CRONS, interval_days, last_complete_interval, timetable


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "when", "expected"),
    [
        ("0 0 * * *", utc(2026, 11, 26, 4, 30), (utc(2026, 11, 25), utc(2026, 11, 26))),
        ("0 0 * * *", utc(2026, 11, 26), (utc(2026, 11, 25), utc(2026, 11, 26))),  # on the boundary
        ("0 0 * * *", utc(2026, 11, 25, 23, 59, 59), (utc(2026, 11, 24), utc(2026, 11, 25))),
        ("0 * * * *", utc(2026, 11, 26, 4, 30), (utc(2026, 11, 26, 3), utc(2026, 11, 26, 4))),
        ("0 0 * * 0", utc(2026, 11, 26), (utc(2026, 11, 15), utc(2026, 11, 22))),  # weekly, Sundays
        ("30 3 * * *", utc(2026, 1, 1, 3, 0), (utc(2025, 12, 30, 3, 30), utc(2025, 12, 31, 3, 30))),
    ],
)
def test_last_complete_interval(cron: str, when: datetime, expected: tuple[datetime, datetime]) -> None:
    assert last_complete_interval(cron, when) == expected


def test_days_of_a_scheduled_run_are_its_half_open_interval() -> None:
    run = SimpleNamespace(data_interval_start=utc(2026, 11, 15), data_interval_end=utc(2026, 11, 22))
    assert interval_days(None, run) == ("2026-11-15", "2026-11-21", "2026-11-22T00:00:00+00:00")
    hourly = SimpleNamespace(data_interval_start=utc(2026, 11, 25, 23), data_interval_end=utc(2026, 11, 26))
    assert interval_days(None, hourly) == ("2026-11-25", "2026-11-25", "2026-11-26T00:00:00+00:00")


def test_a_run_without_a_logical_date_computes_the_last_complete_interval() -> None:
    dag = SimpleNamespace(timetable=timetable("@daily"))
    run = SimpleNamespace(data_interval_start=None, data_interval_end=None, run_after=utc(2026, 11, 26, 4, 30))
    assert interval_days(dag, run) == ("2026-11-25", "2026-11-25", "2026-11-26T00:00:00+00:00")


def test_every_preset_is_a_cron_with_data_intervals() -> None:
    for preset, cron in PRESET_CRONS.items():
        assert timetable(preset).expression == cron
