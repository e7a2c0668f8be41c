"""The run report of a cycle: one static HTML page of counts per stage, linking the cycle's Data Docs and its
page of the run history dashboard (in the Airflow UI, under /vaxpass/dashboard).

Counts, codes and site/district names only: no personal data, so the page can be shared with managers.
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from vaxpass.store import session_scope
from vaxpass.store.models import Cycle, ExtractionRun, MatchDecision, QualityRun, ReviewBatch, ReviewItem

# Where the vaxpass plugin serves the run history and the lineage explorer, under Airflow's base URL.
DASHBOARD_PATH = "/vaxpass/dashboard"
LINEAGE_PATH = "/vaxpass/lineage"


def dashboard_url(web_url: str, cycle_id: str) -> str:
    """The cycle's page of the run history dashboard, under the Airflow web server's base URL."""
    return f"{web_url.rstrip('/')}{DASHBOARD_PATH}?cycle={quote(cycle_id, safe='')}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>—</td></tr>'}</tbody></table>"


def write_run_report(db_url: str, *, cycle_id: str, stats: dict[str, Any], out_dir: Path,
                     web_url: str | None = None) -> Path:
    """Write `<out_dir>/<cycle>.html` and return its path; `stats` are the cycle's counts (finish_cycle).
    With the Airflow web server's `web_url`, the page links the cycle's dashboard and the lineage explorer."""
    with session_scope(db_url) as session:
        cycle = session.get(Cycle, cycle_id)
        extraction = [[r.site_code, r.status, r.files_new, r.rows_new, r.rows_quarantined, r.error_reason or ""]
                      for r in session.scalars(select(ExtractionRun).filter_by(cycle_id=cycle_id)
                                               .order_by(ExtractionRun.site_code))]
        quality = [[q.site_code, q.suite_version, q.evaluated, q.blocked, "held" if q.held
                    else "passed"] for q in session.scalars(select(QualityRun).filter_by(cycle_id=cycle_id)
                                                            .order_by(QualityRun.site_code))]
        outcomes = Counter(dict(session.execute(select(MatchDecision.outcome, func.count()).filter_by(
            cycle_id=cycle_id).group_by(MatchDecision.outcome)).tuples().all()))
        reviews = [[b.district_code, b.status, b.decided_by or "", n] for b, n in session.execute(
            select(ReviewBatch, func.count(ReviewItem.id)).join(ReviewItem, ReviewItem.batch_id == ReviewBatch.id)
            .where(ReviewBatch.cycle_id == cycle_id).group_by(ReviewBatch.id).order_by(ReviewBatch.district_code))]
        run_date = cycle.run_date.isoformat() if cycle else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (re.sub(r"[^A-Za-z0-9._-]+", "_", cycle_id) + ".html")
    docs = stats.get("data_docs")
    docs_link = (f'<p><a href="{html.escape(os.path.relpath(docs, out_dir))}">Data Docs (Great Expectations)</a></p>'
                 if docs else "<p>No Data Docs for this cycle.</p>")
    web_links = (f'<p><a href="{html.escape(dashboard_url(web_url, cycle_id))}">Run dashboard of this cycle</a> · '
                 f'<a href="{html.escape(web_url.rstrip("/") + LINEAGE_PATH)}">Certificate lineage</a></p>'
                 if web_url else "")
    sections = [
        f"<h1>vaxpass — cycle {html.escape(cycle_id)}</h1><p>Run date {run_date}</p>", docs_link, web_links,
        "<h2>Extraction</h2>" + _table(["site", "status", "new files", "new rows", "quarantined", "reason"],
                                       extraction),
        "<h2>Data quality</h2>" + _table(["site", "suite version", "evaluated", "blocked", "batch"], quality),
        "<h2>Registry matching</h2>" + _table(["outcome", "records"], sorted(map(list, outcomes.items()))),
        "<h2>District review</h2>" + _table(["district", "status", "decided by", "records"], reviews),
        "<h2>Certificates</h2>" + _table(["issued this cycle", "current in total", "lineage checked"], [[
            stats.get("certificates_this_cycle", 0), stats.get("certificates_current", 0),
            stats.get("lineage_checked", 0)]]),
        "<h2>Records by status (all cycles)</h2>" + _table(["status", "records"], sorted(
            map(list, stats.get("records_by_status", {}).items()))),
    ]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #999;padding:2px 8px;text-align:left}")
    path.write_text(f"<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>vaxpass {html.escape(cycle_id)}"
                    f"</title><style>{style}</style></head><body>{''.join(sections)}</body></html>", encoding="utf-8")
    return path
