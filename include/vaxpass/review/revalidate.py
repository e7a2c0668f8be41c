"""Corrected records re-enter the flow: a new version of the dose record, the quality rules, then the matcher.

A correction never edits a record in place: the reviewer's values become version n+1 of the same source row
(same raw record, so the provenance stays), the earlier version is superseded, and the new one is judged by
the same Great Expectations suite (`vaxpass.quality`) and matched by the same linker (`vaxpass.registry`) as
any extracted record, within the caller's transaction. `check_corrections` runs the same steps and rolls
back: the reviewer hears at once when a correction breaks a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vaxpass.pipeline.validate import batch_rows, dose_frame, load_history
from vaxpass.quality import ERROR, QualityReport, validate_dose_records
from vaxpass.registry.adapter import PopulationRegistry
from vaxpass.registry.config import MatchConfig
from vaxpass.registry.history import link_key
from vaxpass.registry.match import (
    RecordIdentity,
    foreign_person,
    match_identities,
    person_from_registry,
    save_persons,
)
from vaxpass.review.fields import FieldProblem
from vaxpass.store.models import DoseRecord, MatchDecision, QualityResult, QualityRun

_COLUMNS = ("full_name", "dob", "sex", "national_id", "phone", "vaccine_raw", "vaccine_mp", "dose_number",
            "vaccination_date", "lot", "nationality", "passport_no")
# Which field a rule judges, for the reviewer's error message (rules not listed concern the whole record).
_RULE_FIELD = (("cccd_", "national_id"), ("national_id", "national_id"), ("full_name", "full_name"),
               ("dob", "dob"), ("sex", "sex"), ("vaccine", "vaccine"), ("lot", "lot"),
               ("dose_", "dose_number"), ("vaccination_date", "vaccination_date"))


def rule_field(rule: str) -> str:
    return next((f for prefix, f in _RULE_FIELD if rule.startswith(prefix)), "record")


def new_version(session: Session, rec: DoseRecord, values: dict[str, Any], *, cycle_id: str) -> DoseRecord:
    """Version n+1 of the record's source row with `values` applied; the current version is superseded."""
    latest = session.scalar(select(func.max(DoseRecord.version)).filter_by(site_code=rec.site_code,
                                                                          source_key=rec.source_key)) or 0
    fields = {c: getattr(rec, c) for c in _COLUMNS} | values
    rec.status = "superseded"
    fresh = DoseRecord(raw_record_id=rec.raw_record_id, cycle_id=cycle_id, site_code=rec.site_code,
                       source_key=rec.source_key, version=latest + 1, status="new", status_reason=None, **fields)
    session.add(fresh)
    session.flush()
    return fresh


def judge(session: Session, records: Sequence[DoseRecord], *, run_date: date,
          suite_dir: Path | None) -> dict[str, QualityReport]:
    """The quality suite over the records, per site (each site's batch with its own dose history)."""
    by_site: dict[str, list[DoseRecord]] = defaultdict(list)
    for rec in records:
        by_site[rec.site_code].append(rec)
    reports: dict[str, QualityReport] = {}
    for site_code, recs in sorted(by_site.items()):
        rows = sorted(batch_rows(session, DoseRecord.id.in_([r.id for r in recs])), key=lambda r: r.id)
        batch = dose_frame(rows)
        reports[site_code] = validate_dose_records(batch, run_date=run_date, suite_dir=suite_dir,
                                                   history=load_history(session, site_code, batch))
    return reports


def problems_by_record(reports: dict[str, QualityReport]) -> dict[int, list[FieldProblem]]:
    """The errors (not warnings) of each record, with the field they concern."""
    out: dict[int, list[FieldProblem]] = defaultdict(list)
    for report in reports.values():
        for f in report.failures:
            if f.severity == ERROR:
                out[int(f.record_id)].append(FieldProblem(rule_field(f.rule), f.rule, f.reason_en, f.reason_vi))
    return dict(out)


def store_verdicts(session: Session, records: Sequence[DoseRecord], reports: dict[str, QualityReport], *,
                   cycle_id: str) -> None:
    """Record the verdicts in the cycle's quality run of each site (created if the site had none this cycle):
    failures as QualityResults, the record `quarantined` with its first rule, else `valid`."""
    problems = problems_by_record(reports)
    for site_code, report in reports.items():
        qrun = session.scalar(select(QualityRun).filter_by(cycle_id=cycle_id, site_code=site_code))
        if qrun is None:
            qrun = QualityRun(cycle_id=cycle_id, site_code=site_code, suite_name=report.suite_name,
                              suite_version=report.suite_version, evaluated=0, blocked=0, ge_success=True,
                              held=False, rule_stats=report.rule_stats)
            session.add(qrun)
            session.flush()
        qrun.evaluated += report.evaluated
        qrun.blocked += len(report.blocked_ids)
        qrun.ge_success = qrun.ge_success and report.ge_success
        session.add_all(QualityResult(quality_run_id=qrun.id, dose_record_id=int(f.record_id), rule=f.rule,
                                      severity=f.severity, reason_en=f.reason_en, reason_vi=f.reason_vi)
                        for f in report.failures)
        for rec in records:
            if rec.site_code != site_code:
                continue
            rec.quality_run_id = qrun.id
            if rec.id in problems:
                rec.status, rec.status_reason = "quarantined", problems[rec.id][0].rule
            else:
                rec.status, rec.status_reason = "valid", None


def match_records(session: Session, registry: PopulationRegistry, records: Sequence[DoseRecord], *, key: bytes,
                  cycle_id: str, config: MatchConfig | None = None) -> None:
    """Match valid records like the match stage does: MATCHED → `matched` with its person, else `flagged` with
    the reason (a corrected record that still does not match goes back to its district next cycle)."""
    valid = [r for r in records if r.status == "valid"]
    citizens = [r for r in valid if r.nationality == "VN"]
    decided = match_identities([RecordIdentity(r.full_name, r.dob, r.sex, r.national_id) for r in citizens],
                               registry, config)
    wanted = [d.candidate_registry_ids[0] for d in decided if d.outcome == "MATCHED"]
    entries = registry.by_registry_id(wanted) if wanted else {}
    for rec, d in zip(citizens, decided, strict=True):
        person_id = None
        evidence = d.evidence
        if d.outcome == "MATCHED":
            person_id = person_from_registry(session, key, entries[d.candidate_registry_ids[0]])
        elif rec.national_id:
            evidence = {**evidence, "link_key": link_key(key, rec.national_id)}
        session.add(MatchDecision(dose_record_id=rec.id, cycle_id=cycle_id, outcome=d.outcome, method=d.method,
                                  reason=d.reason, score=d.score, evidence=evidence,
                                  candidate_registry_ids=d.candidate_registry_ids, person_id=person_id))
        rec.person_id = person_id
        rec.status, rec.status_reason = ("matched", None) if person_id else ("flagged", d.reason)
    for rec in valid:
        if rec.nationality != "VN":
            person = foreign_person(key, rec)
            save_persons(session, {person["id"]: person})
            session.add(MatchDecision(dose_record_id=rec.id, cycle_id=cycle_id, outcome="FOREIGN",
                                      method="passport", reason="foreign_national", score=1.0, evidence={},
                                      candidate_registry_ids=[], person_id=person["id"]))
            rec.person_id, rec.status, rec.status_reason = person["id"], "matched", None
    session.flush()
