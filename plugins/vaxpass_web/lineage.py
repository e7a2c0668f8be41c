"""The lineage explorer: find a certificate (UVCI, id or pseudonymous person id) and see its chain as a
layered graph, source row → extraction → validation → match → review → confirmation → signature →
certificate, and the DAG run. Read from `vaxpass.lineage`; ids, hashes and codes only."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from vaxpass.lineage.chain import lineage_chain
from vaxpass.lineage.graph import graph
from vaxpass.lineage.search import find_certificates
from vaxpass_web.access import DAG_ID, ReaderDep, web_settings
from vaxpass_web.render import page

router = APIRouter()


@router.get("/lineage", response_class=HTMLResponse)
def explorer(request: Request, viewer: ReaderDep, q: str = Query("", max_length=200)) -> HTMLResponse:
    db_url = web_settings().db_url
    query = q.strip()
    chain = lineage_chain(db_url, query) if query else None
    results = [] if chain or not query else find_certificates(db_url, query)
    if chain is None and len(results) == 1:
        chain = lineage_chain(db_url, results[0]["uvci"])
    return page(request, "lineage.html", viewer, q=query, chain=chain, layers=graph(chain) if chain else [],
                results=results, dag_id=DAG_ID)
