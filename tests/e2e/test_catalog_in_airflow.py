"""The catalog inside a real Airflow 3 api-server (plugin found through featurelake's entry
point, Airflow's own login with passwords) over the demo's lake, driven by headless Chromium:
log in, open "Features" from Airflow's navigation, search, open a view, see the lineage graph
and the freshness badge. Screenshots go to test-output/. Requests without login are refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from featurelake.config import load_config
from featurelake.online.redis_server import free_port
from featurelake.orchestration.services import AirflowServices, airflow_env

pytestmark = pytest.mark.slow


def _status(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture()
def airflow_api(demo_project, tmp_path: Path, repo_root: Path):  # type: ignore[no-untyped-def]
    conf = load_config(demo_project.conf, env={})
    home = tmp_path / "airflow"
    env = airflow_env(conf, home, repo_root / "dags", free_port())
    services = AirflowServices(env, home / "service-logs", components=("api-server",))
    services.start()
    yield services
    services.stop()


def test_the_catalog_in_airflow_behind_its_login(airflow_api, browser, output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    base = airflow_api.url
    for path in ("/featurelake/", "/featurelake/api/views", "/featurelake/views/user_stats"):
        assert _status(base + path)[0] == 401, f"{path} answered without a login"
    passwords = json.loads((Path(airflow_api.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")
                           .read_text())  # fmt: skip
    login = json.dumps({"username": "admin", "password": passwords["admin"]}).encode()
    status, answer = _status(f"{base}/auth/token", {"Content-Type": "application/json"}, login)
    assert status in (200, 201), answer
    token = json.loads(answer)["access_token"]
    status, views = _status(f"{base}/featurelake/api/views", {"Authorization": f"Bearer {token}"})
    assert status == 200 and len(json.loads(views)) == 5

    browser.set_cookie("_token", token, base)  # what Airflow's login page sets
    browser.open(f"{base}/", until="document.body.innerText.includes('Features')")
    plugin = browser.open(f"{base}/plugin/features", until="!!document.querySelector('iframe')")
    assert "featurelake/" in plugin
    browser.screenshot(output_dir / "catalog_in_airflow_nav.png")

    found = browser.open(f"{base}/featurelake/?q=spend", until="!!document.getElementById('results')")
    assert "user_stats" in found and "<b>spend_30d</b>" in found
    browser.screenshot(output_dir / "catalog_search.png")

    page = browser.open(f"{base}/featurelake/views/user_stats", until="!!document.getElementById('lineage-graph')")
    assert browser.evaluate("document.querySelectorAll('#lineage-graph g.node').length") >= 8
    badge = browser.evaluate("document.getElementById('freshness-badge').innerText")
    assert badge in {"fresh", "stale"}, badge
    assert ("Data Docs" in page and "consistent" in page) or "never run" in page
    shot = browser.screenshot(output_dir / "catalog_view_page.png")
    assert shot.stat().st_size > 50_000, "a rendered page, not a blank one"
