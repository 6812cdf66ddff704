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


class DevToolsBrowser:
    """Headless Chromium driven over the DevTools protocol (a websocket on 127.0.0.1): for
    pages that need a login cookie set before navigating, and for waiting on what scripts render."""

    def __init__(self, binary: str, profile: Path) -> None:
        import json
        import time
        import urllib.request

        from websockets.sync.client import connect

        self.process = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                         "--window-size=1400,1000", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            page = next(t for t in json.loads(answer.read()) if t["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, legacy=True)
        self.calls = 0

    def call(self, method: str, **params: object) -> dict:  # type: ignore[type-arg]
        import json

        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.call("Network.enable")
        self.call("Network.setCookie", name=name, value=value, url=url)

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, until: str = "true", timeout_s: float = 30.0) -> str:
        """Navigate, wait until the JS expression `until` is true; the page's HTML."""
        import time

        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.evaluate(f"document.readyState === 'complete' && !!({until})"):
                return str(self.evaluate("document.documentElement.outerHTML"))
            time.sleep(0.2)
        raise AssertionError(f"{url}: `{until}` never held; the page was:\n"
                             f"{str(self.evaluate('document.body && document.body.innerText'))[:2000]}")  # fmt: skip

    def screenshot(self, target: Path) -> Path:
        import base64

        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        target.write_bytes(base64.b64decode(data))
        return target

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture()
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium)")
    profile = tmp_path / "devtools-profile"
    profile.mkdir()
    driven = DevToolsBrowser(binary, profile)
    yield driven
    driven.close()
