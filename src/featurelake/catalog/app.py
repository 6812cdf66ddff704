"""The catalog web app (FastAPI): HTML pages and, behind each, a JSON endpoint in the OpenAPI
document. Mounted in Airflow's api-server by `featurelake.catalog.airflow_plugin` (behind
Airflow's login) and run alone by `featurelake ui`. Spec text is rendered by autoescaped
templates only, so a description holding `<script>` shows as text."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from featurelake.catalog import drawing, model
from featurelake.catalog.service import Catalog, NothingAppliedError, SearchFilters, search
from featurelake.config import FeaturelakeConfig
from featurelake.orchestration.dags import DAG_PREFIX
from featurelake.registry.model import UnknownViewError
from featurelake.storage import StorageNotFoundError, is_object_store, join, storage_for

TEMPLATES = Path(__file__).resolve().parents[1] / "resources"
COLOURS = {"source": "#fff1c2", "view": "#cfe3f3", "feature": "#e7f5e9", "dag": "#ece4f7", "service": "#fde7d3",
           "training_set": "#f6e1ec", "redis": "#fde0de"}  # fmt: skip
BADGES = {"fresh": "fresh", "stale": "stale", "no SLA": "nosla", "never published": "never"}
_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)


def create_app(conf: FeaturelakeConfig, dependencies: Sequence[Any] = (), refresh_s: float = 5.0) -> FastAPI:
    """The catalog over `conf`'s lake; `dependencies` guard every route (Airflow's login)."""
    catalog = Catalog(conf, refresh_s)
    about = "Feature views: search, lineage, freshness, quality, history, online status."
    app = FastAPI(title="featurelake catalog", version="1", dependencies=list(dependencies), description=about)
    _json_routes(app, catalog)
    _html_routes(app, catalog, conf)
    return app


def _unknown(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (UnknownViewError, NothingAppliedError) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


def _json_routes(app: FastAPI, catalog: Catalog) -> None:
    @app.get("/api/views", response_model=list[model.ViewSummary], tags=["catalog"])
    def api_search(q: str = "", entity: str | None = None, owner: str | None = None, tag: str | None = None,
                   online: bool | None = None, dtype: str | None = None) -> list[model.ViewSummary]:  # fmt: skip
        registry = catalog.registry()
        return [] if registry is None else search(registry, q, SearchFilters(entity, owner, tag, online, dtype))

    parts: dict[str, tuple[Callable[[str], Any], Any]] = {
        "": (catalog.detail, model.ViewDetail),
        "/lineage": (catalog.lineage, model.Lineage),
        "/freshness": (catalog.freshness, model.Freshness),
        "/quality": (catalog.quality, model.Quality),
        "/history": (catalog.history, list[model.HistoryEntry]),
        "/online": (catalog.online, model.Online),
    }
    for suffix, (read, schema) in parts.items():
        app.add_api_route(f"/api/views/{{name}}{suffix}", _reader(read), response_model=schema, tags=["catalog"],
                          methods=["GET"], name=f"view{suffix.replace('/', '_') or '_detail'}")  # fmt: skip


def _reader(read: Callable[[str], Any]) -> Callable[[str], Any]:
    def endpoint(name: str) -> Any:
        return _unknown(lambda: read(name))

    return endpoint


def _html_routes(app: FastAPI, catalog: Catalog, conf: FeaturelakeConfig) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = "", entity: str = "", owner: str = "", tag: str = "",
                    online: str = "", dtype: str = "") -> HTMLResponse:  # fmt: skip
        registry = catalog.registry()
        filters = {"entity": entity, "owner": owner, "tag": tag, "online": online, "dtype": dtype}
        views = [] if registry is None else list(registry.views.values())
        chosen = SearchFilters(entity or None, owner or None, tag or None, {"yes": True, "no": False}.get(online),
                               dtype or None)  # fmt: skip
        choices = {"entity": sorted({v.entity for v in views}), "owner": sorted({v.owner for v in views}),
                   "tag": sorted({t for v in views for t in v.tags}), "online": ["yes", "no"],
                   "dtype": sorted({f.dtype for v in views for f in v.features})}  # fmt: skip
        results = [] if registry is None else search(registry, q, chosen)
        return _page(request, "catalog_search.html", query=q, filters=filters, choices=choices, results=results,
                     total=len(views), registry_missing=registry is None, lake=conf.lake_root)  # fmt: skip

    @app.get("/views/{name}", response_class=HTMLResponse, include_in_schema=False)
    def view_page(request: Request, name: str) -> HTMLResponse:
        try:
            return _view_page(request, catalog, conf, name)
        except (UnknownViewError, NothingAppliedError) as exc:
            return _page(request, "catalog_not_found.html", status=404, problem=str(exc))

    @app.get("/dags/{dag_id}", include_in_schema=False)
    def dag_tab(request: Request, dag_id: str) -> Response:
        """The tab on each DAG's page in Airflow: its view's page, or a note for other DAGs."""
        if not dag_id.startswith(DAG_PREFIX):
            return _page(request, "catalog_not_found.html", status=404, problem=f"{dag_id} is not a feature view's DAG")
        return RedirectResponse(f"{_root(request)}views/{dag_id.removeprefix(DAG_PREFIX)}", status_code=307)

    @app.get("/data-docs/{path:path}", include_in_schema=False)
    def data_docs(path: str) -> Response:
        if ".." in path.split("/"):
            raise HTTPException(status_code=404)
        location = join(conf.resolved_reports_dir, path or "index.html")
        try:
            body = storage_for(location).read(location)
        except StorageNotFoundError:
            raise HTTPException(status_code=404, detail=f"no Data Docs page {path}") from None
        return Response(body, media_type=mimetypes.guess_type(location)[0] or "application/octet-stream")


def _view_page(request: Request, catalog: Catalog, conf: FeaturelakeConfig, name: str) -> HTMLResponse:
    view = catalog.detail(name)
    freshness, quality, online = catalog.freshness(name), catalog.quality(name), catalog.online(name)
    charts = [c for c in (drawing.chart(f, points) for f, points in quality.statistics.items()) if c is not None]
    checked = (online.last_consistency or {}).get("checked_at_us")
    reports = conf.resolved_reports_dir.rstrip("/")
    bases = [reports] if is_object_store(reports) else [reports, str(Path(reports).resolve())]

    def docs_link(location: str) -> str:
        """The run's own Data Docs page, served by this app (the reports dir may be on S3)."""
        base = next((b for b in bases if location.startswith(b + "/")), None)
        return f"{_root(request)}data-docs/{location[len(base) + 1 :] if base else 'index.html'}"

    return _page(
        request, "catalog_view.html", view=view, freshness=freshness, quality=quality, online=online,
        history=catalog.history(name), graph=drawing.layout(catalog.lineage(name)), charts=charts, colours=COLOURS,
        badge_class=BADGES[freshness.state], age=_human(freshness.age_s), sla=_human(freshness.sla_s),
        checked_at=model.iso_us(checked), docs_link=docs_link,
    )  # fmt: skip


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(root=_root(request), **context)
    return HTMLResponse(html, status_code=status)


def login_required() -> list[Any]:
    """Airflow's own login, for the app mounted in its api-server: its JWT as a bearer token
    or in the `_token` cookie its UI sets; without one every route answers 401."""
    from airflow.api_fastapi.core_api.security import get_user

    return [Depends(get_user)]
