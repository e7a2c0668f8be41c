"""Who gets in: anonymous requests are refused by Airflow's login (401), signed-in users who may read the
issuance DAG see the pages, and acting on a district is for that district's reviewers only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from embedded import ENGINEER, MANAGER, reviewer_name
from playwright.sync_api import Page

from tests.web.server import AirflowServer

pytestmark = [pytest.mark.e2e]


def _districts(web: AirflowServer) -> list[str]:
    return sorted(u[len("rv_"):] for u in web.passwords if u.startswith("rv_"))


def test_anonymous_requests_are_refused(web: AirflowServer) -> None:
    with web.client(None) as anonymous:
        assert anonymous.get("/vaxpass/").status_code == 401


def test_a_forged_token_is_refused(web: AirflowServer) -> None:
    import httpx

    resp = httpx.get(f"{web.base_url}/vaxpass/", headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert resp.status_code in (401, 403)


@pytest.mark.parametrize("user", [ENGINEER, MANAGER])
def test_signed_in_readers_see_the_home_page(web: AirflowServer, user: str) -> None:
    with web.client(user) as client:
        resp = client.get("/vaxpass/")
    assert resp.status_code == 200
    assert f'<span class="muted" id="who">{user}</span>' in resp.text


def test_a_reviewer_sees_their_own_districts(web: AirflowServer) -> None:
    district = _districts(web)[0]
    with web.client(reviewer_name(district)) as client:
        resp = client.get("/vaxpass/")
    assert resp.status_code == 200
    assert district in resp.text.split("Districts you review:")[1].split("</p>")[0]


def test_the_session_cookie_of_the_airflow_ui_is_accepted(web: AirflowServer) -> None:
    import httpx

    resp = httpx.get(f"{web.base_url}/vaxpass/", cookies={"_token": web.token(MANAGER)}, timeout=30)
    assert resp.status_code == 200


def test_the_plugin_is_listed_with_its_view(web: AirflowServer) -> None:
    with web.client(ENGINEER) as client:
        plugins = client.get("/api/v2/plugins").json()["plugins"]
    vaxpass = next(p for p in plugins if p["name"] == "vaxpass")
    assert any(v["href"] == "/vaxpass/" for v in vaxpass["external_views"])


def test_a_manager_signs_in_through_the_airflow_ui_and_opens_vaxpass(signed_in: Callable[[str], Page]) -> None:
    page = signed_in(MANAGER)
    page.goto("/vaxpass/")
    assert page.locator("#who").inner_text() == MANAGER
