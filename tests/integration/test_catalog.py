"""The catalog app over the demo's lake (after `featurelake demo`): every view with its true
freshness, validation history, Delta history and online status, checked against what the
lake, Delta and Redis say directly; search against a brute-force oracle; escaping; 404s; a
lake with nothing applied. In-process (FastAPI's test client); tests/e2e drive it inside a
real Airflow api-server with Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from featurelake.catalog import create_app
from featurelake.config import load_config
from featurelake.monitoring.freshness import check_freshness
from featurelake.online.keys import view_prefix, watermark_key
from featurelake.online.materialize import read_watermark
from featurelake.registry import apply_specs, load_registry
from featurelake.validation.records import gate_records


@pytest.fixture(scope="module")
def demo(demo_project):  # type: ignore[no-untyped-def]
    conf = load_config(demo_project.conf, env={})
    return conf, load_registry(conf), TestClient(create_app(conf, refresh_s=0))


def test_search_finds_what_a_brute_force_scan_finds(demo) -> None:  # type: ignore[no-untyped-def]
    _, registry, client = demo
    everything = client.get("/api/views").json()
    assert sorted(v["name"] for v in everything) == sorted(registry.views)
    for query, filters in [("user", {}), ("order", {}), ("", {"online": "true"}), ("", {"dtype": "embedding"}),
                           ("", {"entity": "product"}), ("spend", {"owner": registry.view("user_stats").owner}),
                           ("no-such-thing", {})]:  # fmt: skip
        got = sorted(v["name"] for v in client.get("/api/views", params={"q": query, **filters}).json())
        want = sorted(
            v.name for v in registry.views.values()
            if (query in " ".join([v.name, v.description, v.owner, *v.tags, *(f"{f.name} {f.description}"
                                                                              for f in v.features)]).lower())
            and (filters.get("online") is None or v.online)
            and (filters.get("dtype") is None or any(f.dtype == filters["dtype"] for f in v.features))
            and (filters.get("entity") is None or v.entity == filters["entity"])
            and (filters.get("owner") is None or v.owner == filters["owner"])
        )  # fmt: skip
        assert got == want, (query, filters)
    page = client.get("/", params={"q": "spend"})
    assert page.status_code == 200 and "user_stats" in page.text and "<b>spend_30d</b>" in page.text


def test_every_view_page_shows_its_true_state(demo, spark) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    from featurelake.offline.tables import table_path

    conf, registry, client = demo
    monitor = {c.view: c for c in check_freshness(conf, registry)}
    redis_client = redis.Redis.from_url(conf.redis.url)
    for name, view in registry.views.items():
        page = client.get(f"/views/{name}")
        assert page.status_code == 200, page.text[:500]
        assert 'id="freshness-badge"' in page.text and 'id="lineage-graph"' in page.text
        report = re.search(r'href="(/data-docs/[^"]+)">Data Docs', page.text)
        assert report is not None and report.group(1) != "/data-docs/index.html", "each run links its own page"
        opened = client.get(report.group(1))
        assert opened.status_code == 200 and "text/html" in opened.headers["content-type"]

        freshness = client.get(f"/api/views/{name}/freshness").json()
        assert freshness["state"] == ("stale" if monitor[name].stale else "fresh")  # every shipped view has an SLA
        assert freshness["age_s"] == pytest.approx(monitor[name].age_s, abs=60)

        runs = client.get(f"/api/views/{name}/quality").json()["runs"]
        recorded = gate_records(conf.lake_root, name, view.version)
        assert len(runs) == len(recorded) > 0 and all(r["checks"] and r["passed"] for r in runs)

        history = client.get(f"/api/views/{name}/history").json()
        delta = DeltaTable.forPath(spark, table_path(conf.lake_root, view)).history().collect()
        assert [h["version"] for h in history] == sorted((int(c["version"]) for c in delta), reverse=True)
        by_version = {int(c["version"]): c for c in delta}
        for entry in history:
            metrics = by_version[entry["version"]]["operationMetrics"] or {}
            assert entry["rows_written"] == (int(metrics["numOutputRows"]) if "numOutputRows" in metrics else None)

        online = client.get(f"/api/views/{name}/online").json()
        prefix = view_prefix(registry.project, name, view.version)
        assert online["keys_present"] == sum(1 for _ in redis_client.scan_iter(match=f"{prefix}*", count=10_000))
        mark = read_watermark(redis_client, watermark_key(registry.project, name, view.version))
        assert online["watermark_delta_version"] == (mark.delta_version if mark else None)
    redis_client.close()


def test_lineage_reaches_the_training_set_the_demo_built_and_redis(demo) -> None:  # type: ignore[no-untyped-def]
    client = demo[2]
    graph = client.get("/api/views/user_stats/lineage").json()
    kinds = {n["kind"] for n in graph["nodes"]}
    assert kinds == {"source", "view", "feature", "service", "dag", "training_set", "redis"}
    ids = {n["id"] for n in graph["nodes"]}
    assert all(a in ids and b in ids for a, b in graph["edges"])
    trained = [n["id"] for n in graph["nodes"] if n["kind"] == "training_set"]
    assert any(b in trained for _, b in graph["edges"])  # some feature of the view feeds it


def test_unknown_views_are_404_and_a_lake_with_nothing_applied_says_so(demo, tmp_path: Path, make_test_conf) -> None:  # type: ignore[no-untyped-def]
    conf, _, client = demo
    page = client.get("/views/no_such_view")
    assert page.status_code == 404 and "no_such_view" in page.text and "<html" in page.text
    assert client.get("/api/views/no_such_view/history").status_code == 404
    assert (
        client.get("/dags/featurelake__user_stats", follow_redirects=False)
        .headers["location"]
        .endswith("/views/user_stats")
    )
    empty = load_config(make_test_conf(tmp_path, conf.redis.url, tmp_path / "empty-lake", project="flempty"), env={})
    fresh = TestClient(create_app(empty, refresh_s=0))
    assert fresh.get("/api/views").json() == []
    assert "nothing has been applied" in fresh.get("/").text
    assert fresh.get("/views/user_stats").status_code == 404


def test_spec_text_is_escaped_everywhere(tmp_path: Path, make_test_conf, repo_root: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    specs = tmp_path / "specs"
    shutil.copytree(repo_root / "feature_specs", specs)
    spec = specs / "growth" / "user_orders.yaml"
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    spec.write_text(spec.read_text().replace("description: Order activity per user.", f"description: '{hostile}'"))
    conf = load_config(make_test_conf(tmp_path, redis_server.url, tmp_path / "lake", project="flescape"), env={})
    apply_specs(specs, conf)
    client = TestClient(create_app(conf, refresh_s=0))
    for path in ("/", "/?q=script", "/views/user_orders"):
        page = client.get(path)
        assert page.status_code == 200
        assert "<script>" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;" in page.text
    assert "never published" in client.get("/views/user_orders").text  # no runs yet: said, not failed
