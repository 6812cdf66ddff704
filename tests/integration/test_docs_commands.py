"""Every command shown in README and docs/ runs, as a user would type it after `make demo`:
`featurelake ...` and `spark-submit ...` lines of bash and text blocks, and python blocks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from featurelake.online.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"```(bash|sh|console|text|python)\n(.*?)```", re.S)
RUNNABLE = ("featurelake", "spark-submit")
# Documented to fail here: every view is stale "as of now" in a lake of 2025 data.
EXPECTED_EXIT = {"featurelake check-freshness": 1}
# Servers run until Ctrl-C: started on a free port, reached (Airflow: healthy), then interrupted.
SERVERS = ("serve", "--serve", "airflow", "ui")


def _docs() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str, str]]:
    found = []
    for doc in _docs():
        for kind, block in _BLOCK.findall(doc.read_text()):
            if kind == "python":
                continue
            for line in block.splitlines():
                command, _, comment = line.partition("#")
                if command.strip().startswith(RUNNABLE):
                    found.append((doc.name, command.strip(), comment.strip()))
    return found


def documented_python() -> list[tuple[str, str]]:
    return [(doc.name, block) for doc in _docs() for kind, block in _BLOCK.findall(doc.read_text()) if kind == "python"]


def test_readme_quickstart_is_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip()
        for _, block in _BLOCK.findall(quickstart)
        for line in block.splitlines()
        if line.strip()
    ]
    assert commands == ["make demo", "make test"]


def _env(project) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**os.environ, "FEATURELAKE_CONF": str(project.conf), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _ready(port: int, health_url: str | None) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        if health_url:  # Airflow: every component must report healthy
            with urllib.request.urlopen(health_url, timeout=5) as response:
                health = json.loads(response.read())
            return all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor"))
        return True
    except OSError:
        return False


def _run_server(argv: list[str], project, port: int, health_url: str | None = None) -> None:  # type: ignore[no-untyped-def]
    # Output to files, not pipes nobody reads; PYTHONFAULTHANDLER lets a hang be dumped with SIGABRT.
    logs = project.root / f"server-{port}"
    logs.mkdir()
    env = {**_env(project), "PYTHONFAULTHANDLER": "1"}
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        # As typed in a terminal: Ctrl-C reaches it even when this runner ignores SIGINT (it does
        # when started in the background by a non-interactive shell, and children inherit that).
        proc = subprocess.Popen(argv, cwd=project.root, env=env, stdout=stdout, stderr=stderr,
                                preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None and not _ready(port, health_url):
            time.sleep(0.5)
        assert proc.poll() is None, (logs / "stderr").read_text()[-2000:]
        assert _ready(port, health_url), f"`{' '.join(argv)}` did not become ready on port {port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(argv)}` still runs 60 s after Ctrl-C:\n{_hang_report(proc, logs)}")
    assert code == 0, (logs / "stderr").read_text()[-2000:]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _hang_report(proc: subprocess.Popen[bytes], logs: Path) -> str:
    tree = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,etime,args", "--forest"], capture_output=True, text=True)
    children = [int(line.split()[0]) for line in tree.stdout.splitlines()[1:] if line.split()[1] == str(proc.pid)]
    proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to its stderr
    proc.wait(timeout=30)
    for child in children:  # Airflow's components run in their own process groups
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
    return f"processes:\n{tree.stdout[-6000:]}\nits stderr:\n{(logs / 'stderr').read_text()[-6000:]}"


@pytest.mark.parametrize(("doc", "command", "comment"), documented_commands())
def test_documented_command_runs(doc: str, command: str, comment: str, demo_project) -> None:  # type: ignore[no-untyped-def]
    argv = shlex.split(command)
    argv[0] = str(BIN / argv[0])
    served = next((flag for flag in SERVERS if flag in argv[1:]), None)
    if served:
        port = free_port()  # the documented port may be taken on this machine
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(port)
        else:
            argv += ["--port", str(port)]
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health" if served == "airflow" else None
        _run_server(argv, demo_project, port, health)
        return
    proc = subprocess.run(argv, cwd=demo_project.root, env=_env(demo_project), capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    expected = EXPECTED_EXIT.get(command, 0)
    assert proc.returncode == expected, f"{doc}: `{command}` exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    if expected:  # a clean, typed error, not a crash
        assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize(("doc", "code"), documented_python())
def test_documented_python_runs(doc: str, code: str, demo_project) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-c", code], cwd=demo_project.root, env=_env(demo_project),
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, f"{doc}: python block failed:\n{code}\n{proc.stderr[-2000:]}"


def test_demo_output_is_computed_not_printed(demo_project) -> None:  # type: ignore[no-untyped-def]
    out = demo_project.stdout
    assert "redis: round trip" in out and "specs: 5 feature views applied" in out
    for view in ("user_orders", "user_sessions", "user_stats", "user_embedding", "product_popularity"):
        assert f"backfill {view}: 14 days 2025-01-08..2025-01-21" in out
        assert f"materialize {view} (full):" in out
    assert out.count("validated (") == 5 and "Data Docs (validation reports):" in out
    auc = float(re.search(r"AUC (\d\.\d+) on", out).group(1))  # type: ignore[union-attr]
    assert 0.5 < auc <= 1.0, "the churn features carry signal"
    checked = int(re.search(r"online/offline check: ([\d,]+) entities", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert checked >= 300
    similar = re.search(
        r"similar users to (\d+) by user_embedding:behaviour_embedding .*index (d\d+-\w+): (.+)$", out, re.M
    )
    assert similar is not None, out[-1500:]
    neighbours = [int(part.split()[0]) for part in similar.group(3).split(", ")]
    assert len(neighbours) == 5 and int(similar.group(1)) not in neighbours
    assert "similarity index user_embedding:behaviour_embedding:" in out
    assert (demo_project.lake / "training_sets" / "churn.metadata.json").is_file()
