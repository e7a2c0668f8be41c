"""In Debian's Chromium: a reviewer signs in through Airflow's login form, opens their district's review page,
corrects one record, the batch is approved (what the district gate applies on Approve), and the corrected
record's certificate is issued with the correction in its lineage. The full Airflow path (gate answered
through the REST API in a DAG run) is tests/e2e/test_review_cycle.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from embedded import MANAGER, reviewer_name
from playwright.sync_api import Page
from sqlalchemy import select

from tests.web.server import AirflowServer
from tests.web.test_review import _settings, unused_registry_person

pytestmark = [pytest.mark.e2e]


def test_a_reviewer_corrects_a_record_in_the_browser_and_its_certificate_is_issued(
        web: AirflowServer, signed_in: Callable[[str], Page]) -> None:
    from vaxpass.lineage.chain import lineage_chain
    from vaxpass.pipeline import stages
    from vaxpass.store import session_scope
    from vaxpass.store.models import Certificate, DoseRecord, ReviewBatch

    with web.client(MANAGER) as client:
        backlog = client.get("/vaxpass/review/api/backlog").json()
    district = min((b for b in backlog if b["in_open_batch"]), key=lambda b: b["in_open_batch"])["district_code"]
    reviewer = reviewer_name(district)
    person = unused_registry_person(web, skip=5)

    page = signed_in(reviewer)
    page.set_default_timeout(180_000)  # a correction runs the quality suite: the first one loads Great Expectations
    page.goto("/vaxpass/review")
    page.click(f"#my-districts a[href='/vaxpass/review/{district}']")
    page.wait_for_url(f"**/vaxpass/review/{district}")
    first = page.locator("#records tr[data-record] a").first
    record_id = int(first.inner_text())
    first.click()
    page.wait_for_url(f"**/records/{record_id}")
    for name, value in person.items():
        page.fill(f"#correct input[name={name}]", value)
    page.fill("#correct input[name=note]", "gọi điện xác minh")
    page.click("#correct button[type=submit]")
    page.wait_for_url(f"**/vaxpass/review/{district}?notice=correct:{record_id}")
    assert f"correct:{record_id}" in page.locator("#notice").inner_text()
    assert "correct (" + reviewer + ")" in page.locator(f"tr[data-record='{record_id}']").inner_text()

    # Approve: what DistrictReviewGate.execute_complete runs when the reviewer answers Approve, then issue_reviewed
    s = _settings(web)
    with session_scope(s.db_url) as session:
        batch = session.scalar(select(ReviewBatch).filter_by(district_code=district, status="open"))
        assert batch is not None
        batch_id, cycle_id = batch.id, batch.cycle_id
    counts = stages.decide_review(s, batch_id=batch_id, approved=True, decided_by=reviewer,
                                  decided_at=datetime.now(UTC))
    assert counts["corrected_matched"] == 1
    with session_scope(s.db_url) as session:
        site_code = session.scalar(select(DoseRecord.site_code).where(DoseRecord.id == record_id))
    stages.confirm(s, cycle_id=cycle_id, site_code=str(site_code), signed_at=datetime.now(UTC))
    stages.issue(s, cycle_id=cycle_id, dag_id="vaxpass_issuance", task_id="issue_reviewed",
                 issued_at=datetime.now(UTC))
    with session_scope(s.db_url) as session:
        new = session.scalar(select(DoseRecord).where(DoseRecord.raw_record_id == select(DoseRecord.raw_record_id)
                                                      .where(DoseRecord.id == record_id).scalar_subquery(),
                                                      DoseRecord.id != record_id))
        assert new is not None and new.status == "matched" and new.national_id == person["national_id"]
        cert = session.scalar(select(Certificate).filter_by(dose_record_id=new.id, status="current"))
        assert cert is not None
        uvci = cert.uvci
    chain = lineage_chain(s.db_url, uvci)
    assert chain is not None
    [action] = [link for link in chain["links"]["review"] if link["ref"].startswith("review_action:")]
    assert (action["action"], action["reviewer"], action["channel"]) == ("correct", reviewer, "web")
    tree = subprocess.run([sys.executable, "-m", "vaxpass.cli", "lineage", uvci], env=web.env, text=True,
                          capture_output=True, check=True).stdout
    assert "review_action" in tree and "action=correct" in tree and person["full_name"] not in tree

    # the page now shows the batch decided: the record is no longer waiting
    page.goto(f"/vaxpass/review/{district}")
    assert page.locator(f"tr[data-record='{record_id}']").count() == 0
