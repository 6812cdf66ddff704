"""Fault injection for the reliability tests: a seeded random SIGKILL of a whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

import pytest

SEED = 20261204
KillAfter = Callable[[list[str], float, dict[str, str]], "int | None"]


def kill_tree_after(command: list[str], delay_s: float, env: dict[str, str]) -> int | None:
    """Start `command` in its own process group, SIGKILL the whole group (the CLI, its JVM and
    Python workers) after `delay_s`; returns its exit code if it finished first, else None."""
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        return proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


@pytest.fixture(scope="session")
def kill_after() -> KillAfter:
    return kill_tree_after


@pytest.fixture(scope="session")
def seed() -> int:
    return SEED
