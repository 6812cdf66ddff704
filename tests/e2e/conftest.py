"""End-to-end helpers: Debian's chromium, headless, never calling out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # fmt: skip


class Chromium:
    def __init__(self, binary: str, profile: Path) -> None:
        self.binary, self.profile = binary, profile

    def _run(self, url: str, *extra: str, budget_ms: int = 10_000) -> subprocess.CompletedProcess[str]:
        command = [self.binary, *FLAGS, f"--user-data-dir={self.profile}", f"--virtual-time-budget={budget_ms}",
                   *extra, url]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)

    def dom(self, url: str, budget_ms: int = 10_000) -> str:
        """The page's DOM after its scripts ran."""
        return self._run(url, "--dump-dom", budget_ms=budget_ms).stdout

    def screenshot(self, url: str, target: Path, size: str = "1400,1800", budget_ms: int = 10_000) -> Path:
        self._run(url, f"--screenshot={target}", f"--window-size={size}", budget_ms=budget_ms)
        return target


@pytest.fixture()
def chromium(tmp_path: Path) -> Chromium:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    return Chromium(binary, profile)
