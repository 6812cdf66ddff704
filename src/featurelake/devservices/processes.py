"""Child processes in their own process group, stopped as a whole."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from featurelake.errors import FeaturelakeError


class ServiceStartError(FeaturelakeError):
    template = "{service} did not become ready within {timeout_s:.0f} s: {detail} (log: {log})"


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], service: str, log: Path,
               timeout_s: float) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(service=service, timeout_s=timeout_s, detail=f"exited with {process.returncode}",
                                    log=log)  # fmt: skip
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.3)
    stop(process)
    raise ServiceStartError(service=service, timeout_s=timeout_s, detail="no answer", log=log)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
