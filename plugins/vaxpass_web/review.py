"""The district review page: a reviewer's flagged records, each beside its registry candidates, and the forms
to accept a candidate, correct or reject; the Excel round trip; managers' backlog view.

Personal data is shown to the district's own reviewers only; every other reader (managers, engineers, other
districts' reviewers) sees counts and ages. Every POST is for the district's reviewers only (403 for anyone
else, Airflow admins included); anonymous requests never get here (401 from Airflow's login). The decisions
are `vaxpass.review`'s: this module reads forms and renders pages. JSON variants under `/review/api/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from vaxpass.registry import SqlRegistry
from vaxpass.review import REJECT_REASONS, RecordDecision, ReviewError, decide_records
from vaxpass.review.fields import FIELDS
from vaxpass.review.views import backlog, district_records, record_detail
from vaxpass.review.workbook import WorkbookError, export_workbook, import_workbook
from vaxpass_web.access import ReaderDep, Viewer, require_reviewer, web_settings
from vaxpass_web.render import page

router = APIRouter(prefix="/review")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UPLOAD = 20 * 1024 * 1024


def _registry() -> SqlRegistry:
    return SqlRegistry(web_settings().registry_url)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _backlog_rows(now: datetime) -> list[dict[str, Any]]:
    return [{"district_code": b.district_code, "district_name": b.district_name, "open_records": b.open_records,
             "in_open_batch": b.in_open_batch, "reasons": b.reasons,
             "oldest_since": b.oldest_since.isoformat() if b.oldest_since else None,
             "oldest_age_hours": round((now - b.oldest_since).total_seconds() / 3600, 1) if b.oldest_since else None}
            for b in backlog(web_settings().db_url)]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request, viewer: ReaderDep) -> HTMLResponse:
    """Reviewers: their districts with open records. Everyone who may read: every district's backlog."""
    rows = _backlog_rows(datetime.now(UTC))
    mine = [r for r in rows if viewer.reviews(r["district_code"])]
    return page(request, "review_index.html", viewer, mine=mine, rows=rows, base=_base(request),
                reviews=sorted(viewer.districts))


@router.get("/api/backlog")
def api_backlog(viewer: ReaderDep) -> list[dict[str, Any]]:
    return _backlog_rows(datetime.now(UTC))


@router.get("/api/{district}/records")
def api_records(district: str, viewer: ReaderDep) -> list[dict[str, Any]]:
    require_reviewer(viewer, district)  # personal data
    return district_records(web_settings().db_url, district)


@router.get("/api/{district}/records/{record_id}")
def api_record(district: str, record_id: int, viewer: ReaderDep) -> dict[str, Any]:
    require_reviewer(viewer, district)
    return _detail(district, record_id)


class DecisionBody(BaseModel):
    """A per-record decision as JSON: `action` accept (`registry_id`), correct (`fields`), reject
    (`reason_code`, `note`)."""

    model_config = ConfigDict(extra="forbid")
    action: str
    registry_id: int | None = None
    fields: dict[str, str | None] = {}
    reason_code: str | None = None
    note: str | None = None


@router.post("/api/{district}/records/{record_id}/decision")
def api_decide(district: str, record_id: int, body: DecisionBody, viewer: ReaderDep) -> JSONResponse:
    require_reviewer(viewer, district)
    decision = RecordDecision(record_id, body.action, registry_id=body.registry_id, fields=dict(body.fields),
                              reason_code=body.reason_code, note=body.note)
    try:
        ids = _decide(viewer, district, decision, channel="api")
    except ReviewError as err:
        return JSONResponse(_problems_json(err), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return JSONResponse({"action_ids": ids, "record_id": record_id})


@router.get("/{district}", response_class=HTMLResponse)
def district_page(request: Request, district: str, viewer: ReaderDep) -> HTMLResponse:
    """The district's flagged records for its reviewers; for other readers its backlog only (no names)."""
    summary = next((r for r in _backlog_rows(datetime.now(UTC)) if r["district_code"] == district), None)
    records = district_records(web_settings().db_url, district) if viewer.reviews(district) else None
    return page(request, "review_district.html", viewer, district=district, summary=summary, records=records,
                base=_base(request), fields=FIELDS, notice=request.query_params.get("notice"))


@router.get("/{district}/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, district: str, record_id: int, viewer: ReaderDep) -> HTMLResponse:
    require_reviewer(viewer, district)
    return _record_response(request, viewer, district, _detail(district, record_id))


@router.post("/{district}/records/{record_id}/accept")
def accept(request: Request, district: str, record_id: int, viewer: ReaderDep,
           registry_id: Annotated[int, Form()]) -> Response:
    require_reviewer(viewer, district)
    return _form_decision(request, viewer, district, RecordDecision(record_id, "accept", registry_id=registry_id))


@router.post("/{district}/records/{record_id}/reject")
def reject(request: Request, district: str, record_id: int, viewer: ReaderDep,
           reason_code: Annotated[str, Form()], note: Annotated[str, Form()] = "") -> Response:
    require_reviewer(viewer, district)
    return _form_decision(request, viewer, district,
                          RecordDecision(record_id, "reject", reason_code=reason_code, note=note or None))


@router.post("/{district}/records/{record_id}/correct")
async def correct(request: Request, district: str, record_id: int, viewer: ReaderDep) -> Response:
    require_reviewer(viewer, district)
    form = await request.form()
    values = {f.name: str(form.get(f.name) or "") for f in FIELDS if f.name in form}
    note = str(form.get("note") or "") or None
    return _form_decision(request, viewer, district, RecordDecision(record_id, "correct", fields=values, note=note))


@router.get("/{district}/export.xlsx")
def export(district: str, viewer: ReaderDep) -> Response:
    require_reviewer(viewer, district)
    content = export_workbook(web_settings().db_url, _registry(), district)
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="vaxpass-review-{district}.xlsx"'})


@router.post("/{district}/import")
async def import_file(request: Request, district: str, viewer: ReaderDep,
                      file: Annotated[UploadFile, File()]) -> Response:
    require_reviewer(viewer, district)
    content = await file.read(MAX_UPLOAD + 1)
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        if len(content) > MAX_UPLOAD:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the file is larger than 20 MB")
        s = web_settings()
        decided = import_workbook(s.db_url, content, district_code=district, actor=viewer.username,
                                  acted_at=datetime.now(UTC), suite_dir=s.suite_dir)
    except WorkbookError as err:
        problems = [{"row": p.row, "column": p.column, "rule": p.rule, "reason_en": p.reason_en,
                     "reason_vi": p.reason_vi} for p in err.problems]
        if wants_json:
            return JSONResponse({"error": "import_refused", "problems": problems},
                                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        return _page(request, "review_import_error.html", viewer, status.HTTP_422_UNPROCESSABLE_CONTENT,
                     district=district, problems=problems, base=_base(request))
    if wants_json:
        return JSONResponse({"decided": decided})
    return RedirectResponse(f"{_base(request)}/review/{district}?notice=imported:{decided}",
                            status_code=status.HTTP_303_SEE_OTHER)


def _detail(district: str, record_id: int) -> dict[str, Any]:
    detail = record_detail(web_settings().db_url, _registry(), district, record_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"record {record_id} is not open in district {district}")
    return detail


def _decide(viewer: Viewer, district: str, decision: RecordDecision, *, channel: str) -> list[int]:
    s = web_settings()
    return decide_records(s.db_url, district_code=district, decisions=[decision], actor=viewer.username,
                          acted_at=datetime.now(UTC), channel=channel, suite_dir=s.suite_dir)


def _problems_json(err: ReviewError) -> dict[str, Any]:
    return {"error": "decision_refused", "problems": [
        {"record_id": rid, **p.as_dict()} for rid, found in err.problems.items() for p in found]}


def _form_decision(request: Request, viewer: Viewer, district: str, decision: RecordDecision) -> Response:
    try:
        _decide(viewer, district, decision, channel="web")
    except ReviewError as err:
        detail = record_detail(web_settings().db_url, _registry(), district, decision.record_id)
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
        return _record_response(request, viewer, district, detail, errors=_problems_json(err)["problems"],
                                submitted=decision.fields, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return RedirectResponse(f"{_base(request)}/review/{district}?notice={decision.action}:{decision.record_id}",
                            status_code=status.HTTP_303_SEE_OTHER)


def _record_response(request: Request, viewer: Viewer, district: str, detail: dict[str, Any], *,
                     errors: list[dict[str, Any]] | None = None, submitted: dict[str, Any] | None = None,
                     status_code: int = 200) -> HTMLResponse:
    return _page(request, "review_record.html", viewer, status_code, district=district, r=detail, fields=FIELDS,
                 reasons=REJECT_REASONS, errors=errors or [], submitted=submitted or {}, base=_base(request))


def _page(request: Request, template: str, viewer: Viewer, status_code: int, **context: Any) -> HTMLResponse:
    response = page(request, template, viewer, **context)
    response.status_code = status_code
    return response
