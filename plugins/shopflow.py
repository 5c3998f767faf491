"""The "Shopflow" page in Airflow's UI: a FastAPI app mounted in the API server under /shopflow,
shown in the navigation bar as an embedded view. The page itself lives in include/ui.py."""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin

from include.ui import create_app

PREFIX = "/shopflow"


class ShopflowPlugin(AirflowPlugin):
    """Tonight's data quality, each run's model leaderboard and the published tables."""

    name = "shopflow"
    fastapi_apps = [{"app": create_app(requires_authenticated()), "url_prefix": PREFIX, "name": "Shopflow"}]
    external_views = [
        {
            "name": "Shopflow",
            "href": f"{PREFIX}/",
            "destination": "nav",
            "url_route": "shopflow",
        }
    ]
