"""The review page against a real api-server, with real tokens of different users: the district's reviewer
reads and decides (200/303), another district's reviewer and the admin get 403 on every POST, the manager
reads counts and ages only, anonymous requests get 401; decisions are audited; the Excel round trip."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from embedded import ENGINEER, MANAGER, reviewer_name
from openpyxl import load_workbook
from sqlalchemy import select

from tests.web.server import AirflowServer

pytestmark = [pytest.mark.e2e]


def _settings(web: AirflowServer) -> Any:
    from vaxpass.config import settings_from_mapping

    return settings_from_mapping({k: v for k, v in web.env.items() if k.startswith("VAXPASS_")})


def _district(web: AirflowServer) -> str:
    """The district with the most records in an open batch."""
    with web.client(MANAGER) as client:
        rows = client.get("/vaxpass/review/api/backlog").json()
    return max((r for r in rows if r["in_open_batch"]), key=lambda r: r["in_open_batch"])["district_code"]


def _other_district(web: AirflowServer, district: str) -> str:
    return next(u[len("rv_"):] for u in sorted(web.passwords) if u.startswith("rv_") and u != reviewer_name(district))


def _records(web: AirflowServer, district: str) -> list[dict[str, Any]]:
    with web.client(reviewer_name(district)) as client:
        resp = client.get(f"/vaxpass/review/api/{district}/records")
    assert resp.status_code == 200
    return list(resp.json())


def _audit(web: AirflowServer, record_id: int) -> list[Any]:
    from vaxpass.store import session_scope
    from vaxpass.store.models import ReviewAction

    with session_scope(_settings(web).db_url) as s:
        return list(s.scalars(select(ReviewAction).filter_by(dose_record_id=record_id).order_by(ReviewAction.id)))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/vaxpass/review"), ("GET", "/vaxpass/review/{d}"), ("GET", "/vaxpass/review/{d}/export.xlsx"),
    ("GET", "/vaxpass/review/api/{d}/records"), ("POST", "/vaxpass/review/{d}/records/1/reject"),
    ("POST", "/vaxpass/review/api/{d}/records/1/decision"), ("POST", "/vaxpass/review/{d}/import"),
])
def test_anonymous_requests_get_401(web: AirflowServer, method: str, path: str) -> None:
    with web.client(None) as anonymous:
        assert anonymous.request(method, path.format(d=_district(web))).status_code == 401


def test_the_manager_reads_backlog_and_ages_but_no_personal_data(web: AirflowServer) -> None:
    district = _district(web)
    records = _records(web, district)
    names = {r["values"]["full_name"] for r in records if r["values"]["full_name"]}
    ids = {r["values"]["national_id"] for r in records if r["values"]["national_id"]}
    with web.client(MANAGER) as client:
        index = client.get("/vaxpass/review")
        page = client.get(f"/vaxpass/review/{district}")
        backlog = client.get("/vaxpass/review/api/backlog").json()
        refused = [client.get(f"/vaxpass/review/api/{district}/records").status_code,
                   client.get(f"/vaxpass/review/{district}/records/{records[0]['record_id']}").status_code,
                   client.get(f"/vaxpass/review/{district}/export.xlsx").status_code,
                   client.post(f"/vaxpass/review/{district}/records/{records[0]['record_id']}/reject",
                               data={"reason_code": "duplicate"}).status_code]
    assert index.status_code == 200 and 'id="backlog"' in index.text
    assert page.status_code == 200 and 'id="read-only"' in page.text and 'id="records"' not in page.text
    row = next(b for b in backlog if b["district_code"] == district)
    assert row["in_open_batch"] == len(records) and row["oldest_age_hours"] is not None
    assert refused == [403, 403, 403, 403]
    for text in (index.text, page.text, str(backlog)):
        assert not [n for n in names | ids if n in text]


def test_the_districts_reviewer_sees_the_records_and_each_record_page(web: AirflowServer) -> None:
    district = _district(web)
    records = _records(web, district)
    rid = records[0]["record_id"]
    with web.client(reviewer_name(district)) as client:
        page = client.get(f"/vaxpass/review/{district}")
        record = client.get(f"/vaxpass/review/{district}/records/{rid}")
        detail = client.get(f"/vaxpass/review/api/{district}/records/{rid}").json()
        index = client.get("/vaxpass/review")
        missing = client.get(f"/vaxpass/review/{district}/records/987654321")
    assert page.status_code == 200 and 'id="records"' in page.text and 'id="export"' in page.text
    assert all(f'data-record="{r["record_id"]}"' in page.text for r in records)
    assert record.status_code == 200 and 'id="compare"' in record.text and 'id="correct"' in record.text
    assert detail["values"]["full_name"] in record.text and detail["reason_label"][0] in record.text
    if not detail["candidates"]:
        assert "No registry candidate" in record.text
    assert f"/vaxpass/review/{district}" in index.text and 'id="my-districts"' in index.text
    assert missing.status_code == 404


def test_only_the_districts_reviewer_may_act(web: AirflowServer) -> None:
    district = _district(web)
    rid = _records(web, district)[0]["record_id"]
    body = {"action": "reject", "reason_code": "duplicate"}
    for user in (ENGINEER, MANAGER, reviewer_name(_other_district(web, district))):
        with web.client(user) as client:
            assert client.post(f"/vaxpass/review/api/{district}/records/{rid}/decision", json=body).status_code == 403
            assert client.post(f"/vaxpass/review/{district}/records/{rid}/reject",
                               data={"reason_code": "duplicate"}).status_code == 403
            assert client.get(f"/vaxpass/review/{district}/records/{rid}").status_code in (403,)
    assert _audit(web, rid) == []
    # another district's reviewer acting through their own district's URL reaches no record of this one
    other = _other_district(web, district)
    with web.client(reviewer_name(other)) as client:
        resp = client.post(f"/vaxpass/review/api/{other}/records/{rid}/decision", json=body)
    assert resp.status_code == 422 and resp.json()["problems"][0]["rule"] == "not_open_in_district"
    assert _audit(web, rid) == []


def test_a_reviewer_rejects_through_the_form_and_the_decision_is_audited(web: AirflowServer) -> None:
    district = _district(web)
    rid = _records(web, district)[0]["record_id"]
    with web.client(reviewer_name(district)) as client:
        resp = client.post(f"/vaxpass/review/{district}/records/{rid}/reject",
                           data={"reason_code": "not_resident", "note": "chuyển đi"})
    assert resp.status_code == 303 and resp.headers["location"].endswith(f"/vaxpass/review/{district}"
                                                                          f"?notice=reject:{rid}")
    [action] = _audit(web, rid)
    assert (action.action, action.reason_code, action.note, action.actor, action.channel, action.status) == (
        "reject", "not_resident", "chuyển đi", reviewer_name(district), "web", "pending")
    assert action.before == {"status": "in_review"}


def unused_registry_person(web: AirflowServer, skip: int = 0) -> dict[str, str]:
    """A registry person no dose record names: the identity a reviewer, having called the person, supplies."""
    import sqlite3

    from vaxpass.store import session_scope
    from vaxpass.store.models import DoseRecord

    with session_scope(_settings(web).db_url) as s:
        used = set(s.scalars(select(DoseRecord.national_id).where(DoseRecord.national_id.is_not(None))))
    con = sqlite3.connect(f"{web.env['VAXPASS_HOME']}/data/registry.sqlite")
    rows = con.execute("SELECT cccd, full_name, dob, sex FROM persons ORDER BY registry_id").fetchall()
    con.close()
    free = [r for r in rows if r[0] not in used and r[2] < "2003"]
    cccd, name, dob, sex = free[skip]
    return {"national_id": cccd, "full_name": name, "dob": dob, "sex": sex}


def test_a_correction_breaking_a_rule_is_refused_with_the_rule_and_a_good_one_is_recorded(
        web: AirflowServer) -> None:
    district = _district(web)
    rec = _records(web, district)[1]
    rid = rec["record_id"]
    with web.client(reviewer_name(district)) as client:
        bad = client.post(f"/vaxpass/review/{district}/records/{rid}/correct", data={"dob": "2099-01-01"})
        assert bad.status_code == 422 and 'data-rule="dob_range"' in bad.text
        # the CCCD's century/sex digit must agree with the date of birth and sex
        person = unused_registry_person(web)
        clash = client.post(f"/vaxpass/review/api/{district}/records/{rid}/decision",
                            json={"action": "correct", "fields": {**person, "sex": "M" if person["sex"] == "F"
                                                                  else "F"}})
        assert clash.status_code == 422 and "cccd_century_sex" in {p["rule"] for p in clash.json()["problems"]}
        assert _audit(web, rid) == []
        good = client.post(f"/vaxpass/review/api/{district}/records/{rid}/decision",
                           json={"action": "correct", "fields": person})
    assert good.status_code == 200, good.text
    [action] = _audit(web, rid)
    assert action.action == "correct" and action.channel == "api" and action.status == "pending"
    assert set(action.fields) == {k for k, v in person.items() if v != rec["values"][k]}
    assert {k: action.before[k] for k in action.fields} == {k: rec["values"][k] for k in action.fields}


def _export(web: AirflowServer, district: str) -> Any:
    with web.client(reviewer_name(district)) as client:
        resp = client.get(f"/vaxpass/review/{district}/export.xlsx")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(BytesIO(resp.content))


def _upload(web: AirflowServer, district: str, wb: Any, user: str | None = None) -> Any:
    out = BytesIO()
    wb.save(out)
    with web.client(user or reviewer_name(district)) as client:
        return client.post(f"/vaxpass/review/{district}/import",
                           files={"file": ("edited.xlsx", out.getvalue(), "application/octet-stream")})


def test_excel_round_trip_good_and_bad_files(web: AirflowServer) -> None:
    from vaxpass.review.workbook import FIRST_DATA_ROW, SHEET

    district = _district(web)
    records = _records(web, district)
    wb = _export(web, district)
    ws = wb[SHEET]
    col = {c.value: c.column for c in ws[1]}
    row_of = {ws.cell(r, col["record_id"]).value: r for r in range(FIRST_DATA_ROW, ws.max_row + 1)}
    assert set(row_of) == {r["record_id"] for r in records}
    target = records[-1]["record_id"]
    before = len(_audit(web, target))
    ws.cell(row_of[target], col["decision"], "reject")
    ws.cell(row_of[target], col["reject_reason"], "wrong_data")
    # a bad row: an unknown record id; the whole file is refused, the good row included
    ws.cell(ws.max_row + 1, col["record_id"], 987654321)
    ws.cell(ws.max_row, col["decision"], "reject")
    ws.cell(ws.max_row, col["reject_reason"], "duplicate")
    bad_row = ws.max_row
    bad = _upload(web, district, wb)
    assert bad.status_code == 422 and 'id="problems"' in bad.text
    assert f"<td>{bad_row}</td>" in bad.text and "not_open_in_district" in bad.text
    assert len(_audit(web, target)) == before
    # others may not import at all
    assert _upload(web, district, wb, ENGINEER).status_code == 403
    assert _upload(web, district, wb, reviewer_name(_other_district(web, district))).status_code == 403
    ws.delete_rows(bad_row)
    good = _upload(web, district, wb)
    assert good.status_code == 303 and good.headers["location"].endswith("notice=imported:1")
    action = _audit(web, target)[-1]
    assert (action.action, action.reason_code, action.channel, action.actor) == (
        "reject", "wrong_data", "xlsx", reviewer_name(district))


def test_a_file_that_is_not_excel_is_refused(web: AirflowServer) -> None:
    district = _district(web)
    with web.client(reviewer_name(district)) as client:
        resp = client.post(f"/vaxpass/review/{district}/import", headers={"Accept": "application/json"},
                           files={"file": ("x.xlsx", b"hello", "application/octet-stream")})
    assert resp.status_code == 422 and resp.json()["problems"][0]["rule"] == "not_xlsx"


def test_the_review_page_is_in_airflows_navigation(web: AirflowServer) -> None:
    with web.client(MANAGER) as client:
        plugins = client.get("/api/v2/plugins").json()["plugins"]
    vaxpass = next(p for p in plugins if p["name"] == "vaxpass")
    assert any(v["href"] == "/vaxpass/review" for v in vaxpass["external_views"])


def test_a_cookie_authenticated_write_from_another_site_is_refused(web: AirflowServer) -> None:
    """A foreign page can make the reviewer's browser post a form with Airflow's session cookie: refused (403)
    and nothing recorded; the same form from this server's own page goes through."""
    import httpx

    district = _district(web)
    rid = _records(web, district)[1]["record_id"]
    path = f"/vaxpass/review/{district}/records/{rid}/reject"
    form = {"reason_code": "duplicate", "note": ""}
    cookie = {"_token": web.token(reviewer_name(district))}
    before = len(_audit(web, rid))
    with httpx.Client(base_url=web.base_url, cookies=cookie, timeout=60) as browser:
        forged = browser.post(path, data=form, headers={"Origin": "http://evil.example"})
        no_origin = browser.post(path, data=form)
        assert (forged.status_code, no_origin.status_code) == (403, 403)
        assert len(_audit(web, rid)) == before
        own = browser.post(path, data=form, headers={"Origin": web.base_url})
    assert own.status_code == 303
    assert len(_audit(web, rid)) == before + 1
