"""One site's extraction in one cycle: land new files, keep every row, version changed rows.

A file seen before (same SHA-256) is skipped; a row seen before (same source key and content hash) is
skipped; a row whose content changed becomes a new version of its dose record. Each file is one transaction,
so a crash mid-file leaves nothing half-written and the rerun takes the file again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from vaxpass.domain import SOURCE_HEADERS, SiteConfig
from vaxpass.errors import RowProblem, SourceError
from vaxpass.extract.csv_source import read_csv_rows
from vaxpass.extract.landing import land_file, sha256_file
from vaxpass.extract.normalise import normalise_row
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, ExtractionRun, LandedFile, RawRecord

_KEY_HEADER = SOURCE_HEADERS["source_key"]


@dataclass
class ExtractionSummary:
    """What one site's extraction did; small enough for an XCom (no personal data)."""

    site_code: str
    status: str = "ok"
    files_seen: int = 0
    files_new: int = 0
    rows_new: int = 0
    rows_quarantined: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _content_hash(cells: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(cells, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _run_for(session: Session, cycle_id: str, site_code: str) -> ExtractionRun:
    run = session.scalar(select(ExtractionRun).filter_by(cycle_id=cycle_id, site_code=site_code))
    if run is None:
        run = ExtractionRun(cycle_id=cycle_id, site_code=site_code, status="running")
        session.add(run)
        session.flush()
    return run


def extract_site(db_url: str, *, cycle_id: str, site: SiteConfig, data_dir: Path,
                 landing_dir: Path) -> ExtractionSummary:
    """Extract a site's new files; a source error is recorded against the site and reported, never raised."""
    summary = ExtractionSummary(site_code=site.code)
    inbox = data_dir / site.source.path
    try:
        if site.source.kind != "csv":
            raise SourceError(site.code, site.source.path, "unsupported-source", site.source.kind)
        if not inbox.is_dir():
            raise SourceError(site.code, site.source.path, "inbox-missing", "the site's inbox folder is absent")
        files = sorted(p for p in inbox.iterdir() if p.suffix.lower() == ".csv")
    except SourceError as exc:
        summary.status = "failed"
        summary.problems.append(str(exc))
        files = []
    summary.files_seen = len(files)
    for path in files:
        _extract_file(db_url, cycle_id, site, path, landing_dir, summary)
    with session_scope(db_url) as session:
        run = _run_for(session, cycle_id, site.code)
        run.status = summary.status
        run.files_seen = summary.files_seen
        run.files_new = summary.files_new
        run.rows_new = summary.rows_new
        run.rows_quarantined = summary.rows_quarantined
        run.error_reason = summary.problems[0].split(": ", 1)[-1][:64] if summary.problems else None
        run.error_detail = "\n".join(summary.problems) or None
    return summary


def _extract_file(db_url: str, cycle_id: str, site: SiteConfig, path: Path, landing_dir: Path,
                  summary: ExtractionSummary) -> None:
    sha = sha256_file(path)
    with session_scope(db_url) as session:
        if session.scalar(select(LandedFile.id).filter_by(site_code=site.code, sha256=sha)) is not None:
            return
        run = _run_for(session, cycle_id, site.code)
        landed_path = land_file(path, landing_dir, site.code, sha)
        landed = LandedFile(site_code=site.code, source_name=path.name, sha256=sha, size=path.stat().st_size,
                            landed_path=str(landed_path), extraction_run_id=run.id, status="landed")
        session.add(landed)
        session.flush()
        summary.files_new += 1
        try:
            rows = list(read_csv_rows(landed_path, site.code, path.name))
        except SourceError as exc:
            # The whole file is unusable: it stays in the landing zone, marked with its reason.
            landed.status, landed.error_reason = "rejected", exc.problem.reason
            summary.problems.append(str(exc))
            return
        landed.rows = len(rows)
        _insert_rows(session, cycle_id, site.code, landed.id, path.name, sha, rows, summary)


def _insert_rows(session: Session, cycle_id: str, site_code: str, landed_id: int, file_name: str, sha: str,
                 rows: list[Any], summary: ExtractionSummary) -> None:
    keyed = []
    for row in rows:
        key = (row.cells.get(_KEY_HEADER) or "").strip()
        keyed.append((key or f"~{sha[:12]}:{row.row}", bool(key), row, _content_hash(row.cells)))
    keys = list({k for k, *_ in keyed})
    seen: set[tuple[str, str]] = set()
    latest: dict[str, int] = {}
    for chunk in (keys[i:i + 500] for i in range(0, len(keys), 500)):
        seen.update(session.execute(select(RawRecord.source_key, RawRecord.content_hash).where(
            RawRecord.site_code == site_code, RawRecord.source_key.in_(chunk))).tuples().all())
        latest.update(session.execute(select(DoseRecord.source_key, func.max(DoseRecord.version)).where(
            DoseRecord.site_code == site_code, DoseRecord.source_key.in_(chunk)).group_by(
            DoseRecord.source_key)).tuples().all())
    fresh = []
    for item in keyed:
        if (item[0], item[3]) in seen:
            continue  # this exact row was extracted before (or repeats within the file)
        seen.add((item[0], item[3]))
        fresh.append(item)
    if not fresh:
        return
    raw_ids = session.scalars(insert(RawRecord).returning(RawRecord.id, sort_by_parameter_order=True), [
        {"landed_file_id": landed_id, "site_code": site_code, "source_row": row.row, "source_key": key,
         "content_hash": chash, "raw": row.cells} for key, _, row, chash in fresh]).all()
    superseded = [k for k, *_ in fresh if k in latest]
    for chunk in (superseded[i:i + 500] for i in range(0, len(superseded), 500)):
        session.execute(update(DoseRecord).where(DoseRecord.site_code == site_code,
                                                 DoseRecord.source_key.in_(chunk)).values(status="superseded"))
    records: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    for raw_id, (key, has_key, row, _) in zip(raw_ids, fresh, strict=True):
        version = latest.get(key, 0) + 1
        latest[key] = version
        if key in index_of:  # the same key changed within this file: the later row wins
            records[index_of[key]]["status"] = "superseded"
        index_of[key] = len(records)
        status, reason = "new", None
        if not has_key:
            status, reason = "quarantined", "missing_source_key"
            summary.problems.append(str(RowProblem(site_code, file_name, row.row, "missing_source_key")))
            summary.rows_quarantined += 1
        records.append({"raw_record_id": raw_id, "cycle_id": cycle_id, "site_code": site_code,
                        "source_key": key, "version": version, "status": status, "status_reason": reason,
                        **normalise_row(row.cells)})
    session.execute(insert(DoseRecord), records)
    summary.rows_new += len(records)
