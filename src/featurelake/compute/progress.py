"""Progress of long Spark jobs on the terminal, read from Spark's status tracker."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _tasks(spark: SparkSession) -> tuple[int, int]:
    tracker = spark.sparkContext.statusTracker()
    done = total = 0
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info:
            done += info.numCompletedTasks
            total += info.numTasks
    return done, total


@contextmanager
def spark_progress(spark: SparkSession, description: str, enabled: bool = True) -> Iterator[None]:
    """Show `description` with the running Spark tasks (done/total) until the block ends."""
    if not enabled:
        yield
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        started = time.monotonic()
        print(f"{description} ...", file=sys.stderr, flush=True)
        yield
        print(f"{description}: done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        return
    stop = threading.Event()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def poll() -> None:
            while not stop.wait(0.3):
                done, total = _tasks(spark)
                if total:
                    progress.update(task, completed=done, total=total)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            progress.update(task, completed=1, total=1)
