"""One site's extraction in one cycle: take each new delivery, land it raw, keep every row, version changes.

A delivery seen before (same SHA-256) is skipped — under another name it is reported as `duplicate-file`; a
row seen before (same source key and content hash) is skipped; a row whose content changed becomes a new
version of its dose record. Each delivery is one transaction together with the site's watermark, so a crash
mid-delivery leaves nothing half-written and the rerun takes it again. A delivery that cannot be read is kept
in the landing zone, rejected with its reason; a source that cannot be reached fails the site only.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaxpass.domain import SiteConfig
from vaxpass.errors import RowProblem, SourceError
from vaxpass.extract.known_keys import KnownKeys
from vaxpass.extract.landing import land_bytes, land_file, sha256_file
from vaxpass.extract.mapping import bind, extra_columns, site_map
from vaxpass.extract.source import ConnectionResolver, Delivery, DeliveryError, Source
from vaxpass.extract.sources import make_source
from vaxpass.extract.store_rows import CHUNK_ROWS, RowWriter
from vaxpass.gcscope import older_objects_frozen
from vaxpass.store import session_scope
from vaxpass.store.models import ExtractionRun, LandedAlias, LandedFile, SourceWatermark

MAX_PROBLEMS = 50  # problems listed in the summary (an XCom); `reasons` counts them all


@dataclass
class ExtractionSummary:
    """What one site's extraction did; small enough for an XCom (no personal data: site, file, row, reason)."""

    site_code: str
    source_kind: str = ""
    status: str = "ok"
    files_seen: int = 0
    files_new: int = 0
    files_rejected: int = 0
    rows_new: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def note(self, problem: RowProblem) -> None:
        self.reasons[problem.reason] = self.reasons.get(problem.reason, 0) + 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(str(problem))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_for(session: Session, cycle_id: str, site_code: str) -> ExtractionRun:
    run = session.scalar(select(ExtractionRun).filter_by(cycle_id=cycle_id, site_code=site_code))
    if run is None:
        run = ExtractionRun(cycle_id=cycle_id, site_code=site_code, status="running")
        session.add(run)
        session.flush()
    return run


def _save_watermark(session: Session, cycle_id: str, site: SiteConfig, value: dict[str, Any] | None) -> None:
    if value is not None:
        session.merge(SourceWatermark(site_code=site.code, source_kind=site.source.kind, value=value,
                                      cycle_id=cycle_id))


def extract_site(db_url: str, *, cycle_id: str, site: SiteConfig, data_dir: Path, landing_dir: Path,
                 connections: ConnectionResolver | None = None, chunk_rows: int = CHUNK_ROWS) -> ExtractionSummary:
    """Extract a site's new deliveries; a source error is recorded against the site and reported, never raised."""
    with older_objects_frozen():
        return _extract_site(db_url, cycle_id=cycle_id, site=site, data_dir=data_dir, landing_dir=landing_dir,
                             connections=connections, chunk_rows=chunk_rows)


def _extract_site(db_url: str, *, cycle_id: str, site: SiteConfig, data_dir: Path, landing_dir: Path,
                  connections: ConnectionResolver | None, chunk_rows: int) -> ExtractionSummary:
    summary = ExtractionSummary(site_code=site.code, source_kind=site.source.kind)
    source: Source | None = None
    try:
        source = make_source(site, data_dir, connections)
        with session_scope(db_url) as session:
            mark = session.get(SourceWatermark, site.code)
            watermark = mark.value if mark is not None else None
            known = KnownKeys(session, site.code)
        for delivery in source.deliveries(watermark):
            if delivery.kind == "watermark":
                with session_scope(db_url) as session:
                    _save_watermark(session, cycle_id, site, delivery.watermark)
                continue
            summary.files_seen += 1
            _extract_delivery(db_url, cycle_id, site, delivery, landing_dir, summary, chunk_rows, known)
    except SourceError as exc:
        summary.status = "failed"
        summary.note(exc.problem)
    for note in source.notes if source is not None else []:
        summary.note(note)
    with session_scope(db_url) as session:
        run = _run_for(session, cycle_id, site.code)
        run.status = summary.status
        run.files_seen, run.files_new = summary.files_seen, summary.files_new
        run.rows_new, run.rows_quarantined = summary.rows_new, summary.rows_quarantined
        run.error_reason = next(iter(summary.reasons), None)
        run.error_detail = "\n".join(summary.problems) or None
    return summary


def _land(delivery: Delivery, landing_dir: Path, site_code: str, sha: str) -> Path:
    if delivery.path is not None:
        return land_file(delivery.path, landing_dir, site_code, sha)
    return land_bytes(delivery.data or b"", delivery.suffix, landing_dir, site_code, sha)


def _seen_before(session: Session, cycle_id: str, site: SiteConfig, delivery: Delivery, sha: str,
                 summary: ExtractionSummary) -> bool:
    landed = session.scalar(select(LandedFile).filter_by(site_code=site.code, sha256=sha))
    if landed is None:
        return False
    if delivery.kind == "file" and delivery.name != landed.source_name and session.scalar(
            select(LandedAlias.id).filter_by(landed_file_id=landed.id, source_name=delivery.name)) is None:
        session.add(LandedAlias(landed_file_id=landed.id, source_name=delivery.name, cycle_id=cycle_id))
        summary.note(RowProblem(site.code, delivery.name, None, "duplicate-file",
                                f"same content as {landed.source_name}"))
    _save_watermark(session, cycle_id, site, delivery.watermark)
    return True


def _extract_delivery(db_url: str, cycle_id: str, site: SiteConfig, delivery: Delivery, landing_dir: Path,
                      summary: ExtractionSummary, chunk_rows: int, known: KnownKeys) -> None:
    sha = sha256_file(delivery.path) if delivery.path is not None else hashlib.sha256(delivery.data or b"").hexdigest()
    column_map = site_map(site.source.kind, site.source.column_map)
    quarantined: list[RowProblem] = []
    try:
        with session_scope(db_url) as session:
            if _seen_before(session, cycle_id, site, delivery, sha, summary):
                return
            run = _run_for(session, cycle_id, site.code)
            landed_path = _land(delivery, landing_dir, site.code, sha)
            landed = LandedFile(site_code=site.code, source_name=delivery.name[:500], sha256=sha,
                                size=delivery.size, landed_path=str(landed_path), extraction_run_id=run.id,
                                status="landed", delivery_kind=delivery.kind)
            session.add(landed)
            session.flush()
            rows = delivery.rows(landed_path)
            bound = bind(rows.columns, column_map, site.code, delivery.name)
            writer = RowWriter(session, cycle_id=cycle_id, site_code=site.code, landed_id=landed.id, tag=sha[:12],
                               bound=bound, chunk_rows=chunk_rows, known=known,
                               report=lambda row, reason: quarantined.append(
                                   RowProblem(site.code, delivery.name, row, reason)))
            writer.write(rows.rows)
            landed.rows = writer.rows
            if writer.rows == 0:
                landed.status, landed.error_reason = "empty", "no-rows"
                summary.note(RowProblem(site.code, delivery.name, None, "no-rows", "a header and no data rows"))
            if delivery.kind == "file" and (extras := extra_columns(bound)):
                summary.note(RowProblem(site.code, delivery.name, 1, "extra-columns",
                                        f"{len(extras)} unmapped column(s) kept in the raw records"))
            _save_watermark(session, cycle_id, site, delivery.watermark)
    except DeliveryError as exc:
        _reject(db_url, cycle_id, site, delivery, landing_dir, sha, exc, summary)
        return
    summary.files_new += 1
    summary.rows_new += writer.new
    summary.rows_quarantined += writer.quarantined
    for problem in quarantined:
        summary.note(problem)


def _reject(db_url: str, cycle_id: str, site: SiteConfig, delivery: Delivery, landing_dir: Path, sha: str,
            exc: DeliveryError, summary: ExtractionSummary) -> None:
    """The delivery as a whole is unusable: it stays in the landing zone, rejected with its reason and row."""
    with session_scope(db_url) as session:
        run = _run_for(session, cycle_id, site.code)
        landed_path = _land(delivery, landing_dir, site.code, sha)
        session.add(LandedFile(site_code=site.code, source_name=delivery.name[:500], sha256=sha, size=delivery.size,
                               landed_path=str(landed_path), extraction_run_id=run.id, status="rejected",
                               delivery_kind=delivery.kind, error_reason=exc.problem.reason[:64],
                               error_row=exc.problem.row))
        _save_watermark(session, cycle_id, site, delivery.watermark)
    summary.files_new += 1
    summary.files_rejected += 1
    summary.note(exc.problem)
