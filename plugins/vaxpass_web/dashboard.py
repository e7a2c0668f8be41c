"""The run history dashboard (read-only, for managers): one cycle's figures, trends over the recent cycles,
and the cycle's certificates with links to their lineage. `/vaxpass/dashboard?cycle=<DAG run id>` is what
the DAG run's "Run dashboard" tab opens; `/vaxpass/dashboard.csv` exports the same figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from vaxpass.history import (
    CSV_COLUMNS,
    OUTCOMES,
    CycleSummary,
    csv_rows,
    cycle_certificates,
    cycle_ids,
    summaries,
)
from vaxpass_web.access import ReaderDep, web_settings
from vaxpass_web.dashboard_charts import bar_chart, line_chart
from vaxpass_web.render import page

router = APIRouter()
TREND_CYCLES = 30


def _trends(items: list[CycleSummary]) -> list[str]:
    """The charts over the recent cycles, oldest first."""
    items = list(reversed(items))
    labels = [f"{c.run_date.isoformat()} {c.cycle_id}" for c in items]

    def match_rate(c: CycleSummary) -> float | None:
        total = sum(c.outcomes.values())
        return c.outcomes.get("MATCHED", 0) / total if total else None

    return [
        bar_chart("chart-extracted", "Bản ghi trích xuất / Records extracted", labels, [c.extracted for c in items]),
        line_chart("chart-pass-rate", "Tỷ lệ đạt chất lượng / Quality pass rate", labels,
                   [c.pass_rate for c in items]),
        line_chart("chart-match-rate", "Tỷ lệ khớp / Matched share", labels, [match_rate(c) for c in items]),
        bar_chart("chart-certificates", "Chứng nhận / Certificates (new + re-issued)", labels,
                  [c.issued + c.reissued for c in items]),
        bar_chart("chart-pending", "Hồ sơ chờ duyệt / Pending reviews", labels,
                  [c.pending_reviews for c in items]),
        bar_chart("chart-duration", "Thời gian chạy (s) / Cycle duration (s)", labels,
                  [sum(s.seconds for s in c.stages) or None for c in items], fmt=lambda v: f"{v:,.1f}"),
    ]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, viewer: ReaderDep, cycle: str | None = Query(None, max_length=250)) -> HTMLResponse:
    db_url = web_settings().db_url
    recent = cycle_ids(db_url, limit=TREND_CYCLES)
    now = datetime.now(UTC)
    items = summaries(db_url, recent, now=now)
    selected_id = cycle or (recent[0] if recent else None)
    selected = next((c for c in items if c.cycle_id == selected_id), None)
    if selected is None and selected_id is not None:
        found = summaries(db_url, [selected_id], now=now)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vaxpass cycle {selected_id}")
        selected = found[0]
    total, certificates = cycle_certificates(db_url, selected.cycle_id) if selected else (0, [])
    return page(request, "dashboard.html", viewer, cycle=selected, cycles=items, outcomes=OUTCOMES,
                charts=_trends(items), certificates=certificates, certificates_total=total, now=now)


@router.get("/dashboard.csv")
def dashboard_csv(viewer: ReaderDep, cycle: str | None = Query(None, max_length=250)) -> Response:
    """One row per cycle (all cycles, newest first, or the one asked for)."""
    db_url = web_settings().db_url
    ids = [cycle] if cycle else cycle_ids(db_url)
    items = summaries(db_url, ids, now=datetime.now(UTC))
    if cycle and not items:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vaxpass cycle {cycle}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_rows(items))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="vaxpass-run-history.csv"'})
