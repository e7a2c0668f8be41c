"""The run history dashboard on a real api-server: readable by managers, refused to anonymous users, its
figures and CSV equal to the ops store's counts for the fixture's cycle, and reached from the DAG run's tab."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from embedded import ENGINEER, MANAGER
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.web.server import CYCLE_ID, AirflowServer
from vaxpass.config import settings_from_mapping
from vaxpass.store import session_scope
from vaxpass.store.models import (
    Certificate,
    ExtractionRun,
    MatchDecision,
    QualityRun,
    ReviewBatch,
    ReviewItem,
    StageRun,
)

pytestmark = [pytest.mark.e2e]


def _store_counts(web: AirflowServer) -> dict[str, Any]:
    """The fixture cycle's figures, counted straight from the ops store."""
    db_url = settings_from_mapping({k: v for k, v in web.env.items() if k.startswith("VAXPASS_")}).db_url
    with session_scope(db_url) as session:
        def count(model: Any, *where: Any) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        def total(column: Any, *where: Any) -> int:
            return session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)) or 0

        pending = session.scalar(select(func.count()).select_from(ReviewItem).join(
            ReviewBatch, ReviewBatch.id == ReviewItem.batch_id).where(
            ReviewBatch.cycle_id == CYCLE_ID, ReviewBatch.status == "open", ReviewItem.decision.is_(None)))
        return {
            "extracted": total(ExtractionRun.rows_new, ExtractionRun.cycle_id == CYCLE_ID),
            "quarantined": total(ExtractionRun.rows_quarantined, ExtractionRun.cycle_id == CYCLE_ID),
            "evaluated": total(QualityRun.evaluated, QualityRun.cycle_id == CYCLE_ID),
            "blocked": total(QualityRun.blocked, QualityRun.cycle_id == CYCLE_ID),
            **{f"match_{o.lower()}": count(MatchDecision, MatchDecision.cycle_id == CYCLE_ID,
                                           MatchDecision.outcome == o)
               for o in ("MATCHED", "REVIEW", "NO_MATCH", "FOREIGN")},
            "issued": count(Certificate, Certificate.cycle_id == CYCLE_ID, Certificate.version == 1),
            "certificates": count(Certificate, Certificate.cycle_id == CYCLE_ID),
            "pending_reviews": pending or 0,
            "stages": set(session.scalars(select(StageRun.stage).filter_by(cycle_id=CYCLE_ID))),
        }


def _get(web: AirflowServer, user: str | None, path: str, **params: str) -> Any:
    with web.client(user) as client:
        return client.get(path, params=params)


@pytest.mark.parametrize("path", ["/vaxpass/dashboard", "/vaxpass/dashboard.csv", "/vaxpass/lineage"])
def test_anonymous_users_are_refused(web: AirflowServer, path: str) -> None:
    assert _get(web, None, path).status_code == 401


def test_the_dashboard_shows_the_store_counts_of_the_cycle(web: AirflowServer) -> None:
    resp = _get(web, MANAGER, "/vaxpass/dashboard", cycle=CYCLE_ID)
    assert resp.status_code == 200
    doc = lxml.html.fromstring(resp.text)
    shown = {td.get("data-metric"): td.text_content().strip() for td in doc.xpath("//td[@data-metric]")}
    counts = _store_counts(web)
    assert counts["extracted"] > 0 and counts["certificates"] > 0 and counts["pending_reviews"] > 0
    for metric in ("extracted", "quarantined", "evaluated", "blocked", "match_matched", "match_review",
                   "match_no_match", "match_foreign", "issued", "pending_reviews"):
        assert shown[metric] == str(counts[metric]), metric
    assert doc.get_element_by_id("cycle-id").text_content() == CYCLE_ID
    # the stages the fixture ran, each with its duration; the charts are inline SVG (no script, no CDN)
    assert {tr.get("data-stage") for tr in doc.xpath("//table[@id='stages']//tr[@data-stage]")} == counts["stages"] >= {
        "start_cycle", "extract", "validate", "match", "issue_clean", "open_review"}
    assert {svg.get("id") for svg in doc.xpath("//svg[@class='chart']")} >= {"chart-extracted", "chart-pass-rate",
                                                                      "chart-certificates", "chart-pending"}
    # nothing fetched from elsewhere: no script files, no stylesheet, image or frame from another host
    assert not doc.xpath("//script[@src]")
    assert not [url for url in doc.xpath("//link/@href | //img/@src | //iframe/@src | //object/@data")
                if url.startswith(("http:", "https:", "//"))]
    bar = doc.xpath(f"//svg[@id='chart-extracted']//rect[substring(@data-label, string-length(@data-label) - "
                    f"{len(CYCLE_ID) - 1})='{CYCLE_ID}']")
    assert [r.get("data-value") for r in bar] == [f"{counts['extracted']:,}"]
    # every certificate of the cycle is listed with a link to its lineage
    links = doc.xpath("//table[@id='certificates']//a[@class='lineage-link']")
    assert len(links) == min(counts["certificates"], 200)
    assert links[0].get("href").startswith("/vaxpass/lineage?q=URN%3AUVCI%3A01%3AVN%3A")


def test_the_csv_matches_the_store(web: AirflowServer) -> None:
    resp = _get(web, MANAGER, "/vaxpass/dashboard.csv")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = {row["cycle"]: row for row in csv.DictReader(io.StringIO(resp.text))}
    row = rows[CYCLE_ID]
    counts = _store_counts(web)
    assert int(row["records_extracted"]) == counts["extracted"]
    assert int(row["quality_evaluated"]) == counts["evaluated"] and int(row["quality_blocked"]) == counts["blocked"]
    assert float(row["quality_pass_rate"]) == pytest.approx(
        (counts["evaluated"] - counts["blocked"]) / counts["evaluated"], abs=1e-4)
    assert int(row["match_matched"]) == counts["match_matched"] and int(row["match_review"]) == counts["match_review"]
    assert int(row["certificates_issued"]) == counts["issued"]
    assert int(row["pending_reviews"]) == counts["pending_reviews"] and float(row["oldest_pending_hours"]) >= 0
    assert float(row["seconds_match"]) > 0
    assert float(row["seconds_confirm"]) > 0  # the fixture's cycle confirms each site before issuing
    one = list(csv.DictReader(io.StringIO(_get(web, MANAGER, "/vaxpass/dashboard.csv", cycle=CYCLE_ID).text)))
    assert len(one) == 1
    # the pending review's age is read from the clock at each request: the two requests may straddle a
    # rounding step of 0.01 h, so that column may only have grown; every other column is the same
    age_then, age_now = float(row.pop("oldest_pending_hours")), float(one[0].pop("oldest_pending_hours"))
    assert age_then <= age_now <= age_then + 0.02
    assert one == [row]


def test_an_unknown_cycle_is_404(web: AirflowServer) -> None:
    assert _get(web, MANAGER, "/vaxpass/dashboard", cycle="no-such-run").status_code == 404
    assert _get(web, MANAGER, "/vaxpass/dashboard.csv", cycle="no-such-run").status_code == 404


def test_the_dag_run_has_a_dashboard_tab(web: AirflowServer) -> None:
    with web.client(ENGINEER) as client:
        plugins = client.get("/api/v2/plugins").json()["plugins"]
    views = next(p for p in plugins if p["name"] == "vaxpass")["external_views"]
    tab = next(v for v in views if v["destination"] == "dag_run")
    assert tab["href"] == "/vaxpass/dashboard?cycle={RUN_ID}"  # the UI substitutes the run id


@pytest.fixture(scope="module")
def dag_run_of_the_cycle(web: AirflowServer) -> str:
    """The fixture's cycle as a run of the issuance DAG in Airflow's metadata (no scheduler runs it): the DAG
    serialised, then the run created through the REST API with the cycle's id."""
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "dags", "reserialize"], env=web.env,
                   check=True, capture_output=True, timeout=300)
    with web.client(ENGINEER) as client:
        resp = client.post("/api/v2/dags/vaxpass_issuance/dagRuns",
                           json={"dag_run_id": CYCLE_ID, "logical_date": None})
        assert resp.status_code in (200, 409), resp.text  # 409: created by an earlier test of the session
    return CYCLE_ID


def test_a_manager_reaches_the_dashboard_and_a_lineage_in_two_clicks(
        signed_in: Callable[[str], Page], dag_run_of_the_cycle: str) -> None:
    page = signed_in(MANAGER)
    page.set_default_timeout(90_000)  # the Airflow UI's bundle renders slowly on a loaded 2-core machine
    page.goto(f"/dags/vaxpass_issuance/runs/{dag_run_of_the_cycle}")
    page.get_by_role("tab", name="Run dashboard").or_(page.get_by_role("link", name="Run dashboard")).first.click()
    frame = page.frame_locator("iframe[title='Run dashboard']")
    expect(frame.locator("#cycle-id")).to_have_text(dag_run_of_the_cycle, timeout=90_000)
    frame.locator("#certificates a.lineage-link").first.click()
    expect(frame.locator("#graph .layer[data-kind='certificate'] .node")).to_have_count(1, timeout=90_000)
    kinds = frame.locator("#graph .layer").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["source_row", "extraction", "validation", "match", "confirmation", "signature", "certificate", "dag_run"]
