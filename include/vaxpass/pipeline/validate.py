"""The validation stage: one site's new records through the Great Expectations suite, failures quarantined."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select

from vaxpass.domain import SOURCE_HEADERS
from vaxpass.quality import validate_dose_records
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, LandedFile, QualityResult, QualityRun, RawRecord

_RAW = {"dob_raw": "dob", "sex_raw": "sex", "dose_number_raw": "dose_number",
        "vaccination_date_raw": "vaccination_date"}


def _frame(rows: list[tuple[DoseRecord, RawRecord, str]]) -> pd.DataFrame:
    data: list[dict[str, Any]] = []
    for rec, raw, file_name in rows:
        item = {
            "record_id": str(rec.id), "site_code": rec.site_code, "source_file": file_name,
            "source_row": raw.source_row, "full_name": rec.full_name,
            "dob": rec.dob.isoformat() if rec.dob else None, "sex": rec.sex, "national_id": rec.national_id,
            "phone": rec.phone, "vaccine_raw": rec.vaccine_raw, "vaccine_mp": rec.vaccine_mp,
            "dose_number": rec.dose_number,
            "vaccination_date": rec.vaccination_date.isoformat() if rec.vaccination_date else None,
            "lot": rec.lot, "nationality": rec.nationality, "passport_no": rec.passport_no,
        }
        for column, field in _RAW.items():
            item[column] = (raw.raw.get(SOURCE_HEADERS[field]) or "").strip() or None
        data.append(item)
    frame = pd.DataFrame(data, columns=[
        "record_id", "site_code", "source_file", "source_row", "full_name", "dob", "dob_raw", "sex", "sex_raw",
        "national_id", "phone", "vaccine_raw", "vaccine_mp", "dose_number", "dose_number_raw",
        "vaccination_date", "vaccination_date_raw", "lot", "nationality", "passport_no"])
    frame["dose_number"] = frame["dose_number"].astype("Int64")
    return frame


def validate_site(db_url: str, *, cycle_id: str, site_code: str, run_date: date,
                  suite_dir: Path | None = None) -> dict[str, int]:
    """Validate the site's records awaiting validation; a rerun of the same cycle reuses its quality run."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(DoseRecord, RawRecord, LandedFile.source_name)
            .join(RawRecord, RawRecord.id == DoseRecord.raw_record_id)
            .join(LandedFile, LandedFile.id == RawRecord.landed_file_id)
            .where(DoseRecord.site_code == site_code, DoseRecord.status == "new").order_by(DoseRecord.id)
        ).tuples().all()
        report = validate_dose_records(_frame(list(rows)), run_date=run_date, suite_dir=suite_dir)
        qrun = session.scalar(select(QualityRun).filter_by(cycle_id=cycle_id, site_code=site_code))
        if qrun is None:
            qrun = QualityRun(cycle_id=cycle_id, site_code=site_code, suite_name=report.suite_name,
                              suite_version=report.suite_version, evaluated=0, blocked=0, ge_success=True)
            session.add(qrun)
            session.flush()
        qrun.evaluated += report.evaluated
        qrun.blocked += len(report.blocked_ids)
        qrun.ge_success = qrun.ge_success and report.ge_success
        qrun.rule_stats = report.rule_stats
        if report.failures:
            session.execute(insert(QualityResult), [
                {"quality_run_id": qrun.id, "dose_record_id": int(f.record_id), "rule": f.rule,
                 "severity": f.severity, "reason_en": f.reason_en, "reason_vi": f.reason_vi}
                for f in report.failures])
        blocked = sorted(int(i) for i in report.blocked_ids)
        first_error = {int(f.record_id): f.rule for f in reversed(report.failures) if f.severity == "error"}
        for rec, _, _ in rows:
            rec.quality_run_id = qrun.id
            if rec.id in first_error:
                rec.status, rec.status_reason = "quarantined", first_error[rec.id]
            else:
                rec.status = "valid"
        return {"evaluated": report.evaluated, "quarantined": len(blocked),
                "valid": report.evaluated - len(blocked)}
