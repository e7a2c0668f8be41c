"""Registers vaxpass's pages with Airflow: the FastAPI app at /vaxpass and its entries in the UI."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from vaxpass_web.app import URL_PREFIX, create_app


class VaxpassPlugin(AirflowPlugin):
    name = "vaxpass"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "vaxpass"}]
    external_views = [
        {"name": "vaxpass", "href": f"{URL_PREFIX}/", "destination": "nav", "category": "vaxpass",
         "url_route": "vaxpass"},
        {"name": "Duyệt hồ sơ / Review", "href": f"{URL_PREFIX}/review", "destination": "nav", "category": "vaxpass",
         "url_route": "vaxpass-review"},
        # A tab on every run of the issuance DAG: that cycle's dashboard (the UI substitutes {RUN_ID}).
        {"name": "Run dashboard", "href": f"{URL_PREFIX}/dashboard?cycle={{RUN_ID}}", "destination": "dag_run",
         "url_route": "vaxpass-dashboard"},
    ]
