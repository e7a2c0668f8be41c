"""The review pages' rendering and forms on a store with registry candidates (the web session's synthetic cycle
flags only records with none). Authentication is Airflow's and is tested against the real api-server in
test_review.py; here the signed-in viewer is given, so the pages can be checked on the richer store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.review.conftest import KEY, ReviewStore, build_store

sys.path.insert(0, str(REPO / "plugins"))


@pytest.fixture
def pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ReviewStore, TestClient]]:
    from vaxpass_web import access
    from vaxpass_web.access import Viewer, current_viewer
    from vaxpass_web.app import create_app

    store = build_store(tmp_path)
    monkeypatch.setenv("VAXPASS_HOME", str(tmp_path))
    monkeypatch.setenv("VAXPASS_DB_URL", store.url)
    monkeypatch.setenv("VAXPASS_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    monkeypatch.setenv("VAXPASS_KEY_PASSPHRASE", "unused")
    monkeypatch.setenv("VAXPASS_PSEUDONYM_KEY", KEY.decode())
    access.web_settings.cache_clear()
    app = create_app()
    app.dependency_overrides[current_viewer] = lambda: Viewer("rv_001", True, frozenset({"001"}))
    with TestClient(app, root_path="/vaxpass", follow_redirects=False) as client:
        yield store, client
    access.web_settings.cache_clear()


def test_the_record_beside_its_candidates_with_differing_fields_highlighted(
        pages: tuple[ReviewStore, TestClient]) -> None:
    store, client = pages
    resp = client.get(f"/review/001/records/{store.ids['an2']}")
    assert resp.status_code == 200
    html = resp.text
    assert "Nguyễn Văn An" in html and "1990-05-13" in html and "1990-05-12" in html
    assert '<td class="diff" data-field="dob">1990-05-12</td>' in html
    assert '<td class="" data-field="national_id">001090000001</td>' in html
    assert "id: cccd_exact" in html and ("dob: one_part_differs" in html or "dob: disagree" in html)
    twin = client.get(f"/review/001/records/{store.ids['binh']}").text
    assert 'name="accept-5"' in twin and 'name="accept-6"' in twin


def test_accepting_the_second_candidate_from_the_page(pages: tuple[ReviewStore, TestClient]) -> None:
    store, client = pages
    resp = client.post(f"/review/001/records/{store.ids['binh']}/accept", data={"registry_id": "6"})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/vaxpass/review/001?notice=accept:{store.ids['binh']}"
    listing = client.get("/review/001").text
    assert "accept (rv_001)" in listing
    page = client.get(f"/review/001/records/{store.ids['binh']}").text
    assert 'id="pending"' in page and 'id="history"' in page


def test_a_refused_correction_keeps_what_was_typed_and_names_the_rule(pages: tuple[ReviewStore, TestClient]) -> None:
    store, client = pages
    resp = client.post(f"/review/001/records/{store.ids['an2']}/correct", data={"national_id": "001190000001"})
    assert resp.status_code == 422
    assert 'data-rule="cccd_century_sex"' in resp.text and 'value="001190000001"' in resp.text
