"""A reviewer's decisions on single records of their district's open batch, before the batch is answered.

Per record a reviewer accepts one of the registry candidates the match proposed, corrects fields (checked at
once against the quality rules: a correction that breaks one is refused), or rejects it with a reason code.
Each decision is an audit row (`ReviewAction`: who, when, before, after); the latest one of a record is what
the batch decision in the gate applies (`vaxpass.review.batches`). Decisions come in lists and are taken all
or none: one bad entry (from a form or an imported spreadsheet) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vaxpass.errors import VaxpassError
from vaxpass.review import fields as F
from vaxpass.review.revalidate import judge, new_version, problems_by_record
from vaxpass.store import session_scope
from vaxpass.store.db import engine_for
from vaxpass.store.models import (
    Cycle,
    DoseRecord,
    MatchDecision,
    ReviewAction,
    ReviewBatch,
    Reviewer,
    ReviewItem,
)

ACTIONS = ("accept", "correct", "reject")
# Reasons a district rejects a record for (lý do từ chối), in Vietnamese and English.
REJECT_REASONS = {
    "not_resident": ("Không cư trú trên địa bàn", "Not a resident of the district"),
    "duplicate": ("Trùng lặp", "Duplicate"),
    "wrong_data": ("Sai dữ liệu", "Wrong data"),
}


class ReviewError(VaxpassError):
    """Decisions refused, all of them: `problems` maps a record id (None: the request as a whole) to what is
    wrong with it — reason codes and rule texts, never the values themselves."""

    def __init__(self, district_code: str, problems: dict[int | None, list[F.FieldProblem]]) -> None:
        self.district_code, self.problems = district_code, problems
        parts = [f"record {rid if rid is not None else '-'}: " + ", ".join(f"{p.field} {p.rule}" for p in probs)
                 for rid, probs in problems.items()]
        super().__init__(f"district {district_code}: decisions refused: " + "; ".join(parts))


@dataclass(frozen=True)
class RecordDecision:
    """What a reviewer decided for one record (`record_id`: the dose record in review)."""

    record_id: int
    action: str
    registry_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reason_code: str | None = None
    note: str | None = None


def _problem(rule: str, en: str, vi: str, name: str = "record") -> F.FieldProblem:
    return F.FieldProblem(name, rule, en, vi)


def open_items(session: Session, district_code: str, record_ids: Sequence[int] | None = None,
               ) -> dict[int, tuple[ReviewItem, ReviewBatch, DoseRecord, MatchDecision]]:
    """The district's records waiting in an open batch (record id → item, batch, record, match decision)."""
    query = (select(ReviewItem, ReviewBatch, DoseRecord, MatchDecision)
             .join(ReviewBatch, ReviewBatch.id == ReviewItem.batch_id)
             .join(DoseRecord, DoseRecord.id == ReviewItem.dose_record_id)
             .join(MatchDecision, MatchDecision.id == ReviewItem.match_decision_id)
             .where(ReviewBatch.status == "open", ReviewBatch.district_code == district_code,
                    DoseRecord.status == "in_review"))
    if record_ids is not None:
        query = query.where(ReviewItem.dose_record_id.in_(list(record_ids)))
    return {item.dose_record_id: (item, batch, rec, decision)
            for item, batch, rec, decision in session.execute(query.order_by(ReviewItem.id)).tuples()}


def pending_actions(session: Session, item_ids: Sequence[int]) -> dict[int, ReviewAction]:
    """The latest pending action of each item."""
    out: dict[int, ReviewAction] = {}
    for i in range(0, len(item_ids), 900):
        for action in session.scalars(select(ReviewAction).where(
                ReviewAction.item_id.in_(list(item_ids[i:i + 900])), ReviewAction.status == "pending")
                .order_by(ReviewAction.id)):
            out[action.item_id] = action
    return out


def _corrected(rec: DoseRecord, previous: ReviewAction | None,
               given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[F.FieldProblem]]:
    """(changed fields as text, their DoseRecord column values, problems): a second correction of a record adds
    to its pending one; values equal to the record's are dropped."""
    current = F.as_text(rec)
    merged = dict(previous.fields) if previous is not None and previous.action == "correct" else {}
    merged.update({k: F.nfc(v) for k, v in given.items()})
    columns, problems = F.parse_corrections(merged)
    changed = {k: v for k, v in merged.items() if k not in F.BY_NAME or v != current.get(k)}
    if not problems and not changed:
        problems.append(_problem("no_change", "the correction changes nothing", "không có thay đổi nào"))
    return changed, columns, problems


def _check_corrections(db_url: str, corrections: dict[int, dict[str, Any]], *, run_date: Any,
                       suite_dir: Path | None) -> dict[int, list[F.FieldProblem]]:
    """The quality rules' errors for the corrected records, judged as new versions in a transaction that is
    rolled back (the store is left as it was)."""
    session = sessionmaker(engine_for(db_url))()
    try:
        recs = {rid: session.get(DoseRecord, rid) for rid in corrections}
        fresh = {rid: new_version(session, rec, corrections[rid], cycle_id=rec.cycle_id)
                 for rid, rec in recs.items() if rec is not None}
        found = problems_by_record(judge(session, list(fresh.values()), run_date=run_date, suite_dir=suite_dir))
        return {rid: found[new.id] for rid, new in fresh.items() if new.id in found}
    finally:
        session.rollback()
        session.close()


def decide_records(db_url: str, *, district_code: str, decisions: Sequence[RecordDecision], actor: str,
                   acted_at: datetime, channel: str, suite_dir: Path | None = None) -> list[int]:
    """Record the decisions as pending actions of the district's open batch; returns the action ids.

    Refuses them all (`ReviewError`) when the actor does not review the district, a record is not open in one
    of its batches, a candidate is not one the match proposed, a reason code is unknown, or a correction cannot
    be read or breaks a quality rule.
    """
    problems: dict[int | None, list[F.FieldProblem]] = {}
    with session_scope(db_url) as session:
        if session.get(Reviewer, (actor, district_code)) is None:
            raise ReviewError(district_code, {None: [_problem("not_a_reviewer", "you do not review this district",
                                                               "bạn không duyệt quận/huyện này")]})
        items = open_items(session, district_code, [d.record_id for d in decisions])
        pending = pending_actions(session, [item.id for item, *_ in items.values()])
        rows: list[dict[str, Any]] = []
        corrections: dict[int, dict[str, Any]] = {}
        run_dates: set[date] = set()
        seen: set[int] = set()
        for d in decisions:
            mine: list[F.FieldProblem] = []
            if d.record_id in seen:
                mine.append(_problem("repeated", "the record is decided twice", "hồ sơ bị quyết định hai lần"))
            seen.add(d.record_id)
            if d.record_id not in items:
                problems[d.record_id] = [*mine, _problem(
                    "not_open_in_district", f"not a record waiting for review in district {district_code}",
                    f"không phải hồ sơ đang chờ duyệt của quận/huyện {district_code}")]
                continue
            item, batch, rec, decision = items[d.record_id]
            row: dict[str, Any] = {"item_id": item.id, "batch_id": batch.id, "dose_record_id": rec.id,
                                   "action": d.action, "actor": actor, "acted_at": acted_at, "channel": channel,
                                   "note": d.note or None, "status": "pending", "fields": {}}
            if d.action == "accept":
                if d.registry_id not in decision.candidate_registry_ids:
                    mine.append(_problem("not_a_candidate", "not one of the record's registry candidates",
                                         "không phải ứng viên của hồ sơ", "registry_id"))
                row |= {"registry_id": d.registry_id, "before": {"status": rec.status, "person_id": rec.person_id},
                        "after": {"registry_id": d.registry_id}}
            elif d.action == "reject":
                if d.reason_code not in REJECT_REASONS:
                    mine.append(_problem("unknown_reason", f"the reason is one of {', '.join(REJECT_REASONS)}",
                                         "lý do không hợp lệ", "reason_code"))
                row |= {"reason_code": d.reason_code, "before": {"status": rec.status},
                        "after": {"status": "rejected", "reason": d.reason_code}}
            elif d.action == "correct":
                changed, columns, bad = _corrected(rec, pending.get(item.id), d.fields)
                mine.extend(bad)
                if not bad:
                    corrections[rec.id] = columns
                    cycle = session.get(Cycle, batch.cycle_id)
                    assert cycle is not None, "a batch belongs to a cycle"
                    run_dates.add(cycle.run_date)
                current = F.as_text(rec)
                row |= {"fields": changed, "before": {k: current.get(k) for k in changed},
                        "after": dict(changed)}
            else:
                mine.append(_problem("unknown_action", f"the action is one of {', '.join(ACTIONS)}",
                                     "thao tác không hợp lệ", "action"))
            if mine:
                problems[d.record_id] = mine
            rows.append(row)
        if corrections and not problems:
            for rid, found in _check_corrections(db_url, corrections, run_date=max(run_dates),
                                                 suite_dir=suite_dir).items():
                problems[rid] = found
        if problems:
            raise ReviewError(district_code, problems)
        for row in rows:
            if (previous := pending.get(row["item_id"])) is not None:
                previous.status = "replaced"
        actions = [ReviewAction(**row) for row in rows]
        session.add_all(actions)
        session.flush()
        return [a.id for a in actions]
