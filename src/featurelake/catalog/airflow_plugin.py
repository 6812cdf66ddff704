"""The Airflow plugin that mounts the catalog in Airflow 3's api-server: "Features" in the
navigation and a "Feature view" tab on each DAG's page, behind Airflow's own login.

Registered through the `airflow.plugins` entry point, so installing featurelake is enough.
The conf is the one the DAGs use (FEATURELAKE_CONF); the app is built on the first request,
not at import, so the api-server starts even when the lake is not reachable yet."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/featurelake"


class _LazyCatalog:
    """An ASGI app that builds the catalog on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from featurelake.catalog.app import create_app, login_required
            from featurelake.config import load_config

            self._app = create_app(load_config(), dependencies=login_required())
        await self._app(scope, receive, send)


class FeaturelakePlugin(AirflowPlugin):
    name = "featurelake"
    fastapi_apps = [{"app": _LazyCatalog(), "url_prefix": URL_PREFIX, "name": "featurelake catalog"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"name": "Features", "href": "featurelake/", "destination": "nav", "url_route": "features"},
        {"name": "Feature view", "href": "featurelake/dags/{DAG_ID}", "destination": "dag",
         "url_route": "feature-view"},
    ]  # fmt: skip
