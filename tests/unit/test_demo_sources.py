"""The demo backfills a view once the generator has written its source, and never waits on a
generator that failed or finished without it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from featurelake.demo import DemoStepError, _SourcesWritten


def test_a_written_source_is_ready_and_an_unknown_one_waits_for_the_whole_dataset() -> None:
    sources = _SourcesWritten()
    with ThreadPoolExecutor(1) as pool:
        generating = pool.submit(lambda: (sources.mark("orders"), {"orders": 3})[1])
        sources.wait("orders", generating)
        sources.wait("somewhere_else", generating)
        assert generating.done()


def test_the_generator_error_reaches_the_waiting_backfill() -> None:
    def fail() -> dict[str, int]:
        raise OSError("disk full")

    with ThreadPoolExecutor(1) as pool:
        generating = pool.submit(fail)
        with pytest.raises(OSError, match="disk full"):
            _SourcesWritten().wait("sessions", generating)


def test_a_generator_that_never_writes_the_source_is_an_error_not_a_hang() -> None:
    with ThreadPoolExecutor(1) as pool:
        generating = pool.submit(dict)
        with pytest.raises(DemoStepError, match="without writing user_stats"):
            _SourcesWritten().wait("user_stats", generating)
