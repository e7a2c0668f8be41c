"""Run history for managers: what each cycle did, read from the ops store (no Airflow, no personal data).

Per cycle: records extracted per site, the quality pass rate, match outcomes, review batches per district with
what is still pending and for how long, certificates issued / re-issued / revoked, and how long each stage took
(`stage_runs`, written around every stage by `stage_run`). Counts, codes and pseudonymous ids only.
"""

from __future__ import annotations

import contextlib
import functools
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from vaxpass.store import session_scope
from vaxpass.store.models import (
    Certificate,
    Cycle,
    ExtractionRun,
    MatchDecision,
    QualityRun,
    ReviewBatch,
    ReviewItem,
    StageRun,
)

# The stages in flow order, as `stage_run` names them (extract, validate and confirm run once per site; the
# confirmations before `issue_clean` and before `issue_reviewed` share the one `confirm` row per site).
STAGES = ("start_cycle", "extract", "validate", "match", "confirm", "issue_clean", "open_review", "issue_reviewed",
          "finish_cycle")
OUTCOMES = ("MATCHED", "REVIEW", "NO_MATCH", "FOREIGN")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def stage_run(db_url: str, *, cycle_id: str, stage: str, key: str = "",
              clock: Callable[[], datetime] = _utcnow) -> Iterator[None]:
    """Record when a stage ran (its latest attempt) in `stage_runs`. Observed times for the dashboard only: no
    decision ever reads them. A failed stage is recorded as failed and its error re-raised unchanged."""
    started = clock()
    try:
        yield
    except BaseException:
        # The stage's own error is what matters: a store too broken to take the timing row must not hide it.
        with contextlib.suppress(SQLAlchemyError):
            _save_stage_run(db_url, cycle_id, stage, key, "failed", started, clock())
        raise
    _save_stage_run(db_url, cycle_id, stage, key, "success", started, clock())


P = ParamSpec("P")
R = TypeVar("R")


def timed(*, key: str | None = None, stage_arg: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a pipeline stage `f(settings, *, cycle_id, ...)` in `stage_run`: the stage is named by the function
    (or by its `stage_arg` keyword, e.g. the issuing task), keyed by its `key` keyword (e.g. the site)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            stage = str(kwargs[stage_arg]) if stage_arg else fn.__name__
            with stage_run(args[0].db_url, cycle_id=str(kwargs["cycle_id"]), stage=stage,  # type: ignore[attr-defined]
                           key=_key(kwargs.get(key)) if key else ""):
                return fn(*args, **kwargs)

        return run

    return wrap


def _key(value: object) -> str:
    """The stage run's key: a site code, or a partition (`index/count`); "" when the stage ran whole."""
    return "" if value is None else str(value)


def _save_stage_run(db_url: str, cycle_id: str, stage: str, key: str, status: str, started: datetime,
                    finished: datetime) -> None:
    with session_scope(db_url) as session:
        if session.get(Cycle, cycle_id) is None:
            return  # the cycle was never opened (start_cycle failed): nothing to attach the timing to
        row = session.scalar(select(StageRun).filter_by(cycle_id=cycle_id, stage=stage, key=key))
        if row is None:
            session.add(StageRun(cycle_id=cycle_id, stage=stage, key=key, status=status, started_at=started,
                                 finished_at=finished, attempts=1))
        else:
            row.status, row.started_at, row.finished_at = status, started, finished
            row.attempts += 1


@dataclass
class SiteRow:
    site: str
    extraction: str = "—"  # the extraction run's status
    files_new: int = 0
    rows_new: int = 0
    rows_quarantined: int = 0
    error_reason: str = ""
    evaluated: int = 0
    blocked: int = 0
    held: bool = False

    @property
    def pass_rate(self) -> float | None:
        return (self.evaluated - self.blocked) / self.evaluated if self.evaluated else None


@dataclass
class ReviewRow:
    district: str
    batch_id: int
    status: str
    records: int
    pending: int
    opened_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    age_hours: float | None  # how long it has waited (open), or waited before its decision


@dataclass
class StageRow:
    stage: str
    runs: int  # keys: sites for extract/validate, else 1
    failed: int
    started_at: datetime
    finished_at: datetime
    attempts: int

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class CycleSummary:
    """One cycle's figures, as the dashboard and its CSV show them."""

    cycle_id: str
    run_date: date
    run_after: datetime
    status: str
    sites: list[SiteRow] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    reviews: list[ReviewRow] = field(default_factory=list)
    issued: int = 0
    reissued: int = 0
    revoked: int = 0
    stages: list[StageRow] = field(default_factory=list)

    @property
    def extracted(self) -> int:
        return sum(s.rows_new for s in self.sites)

    @property
    def quarantined(self) -> int:
        return sum(s.rows_quarantined for s in self.sites)

    @property
    def evaluated(self) -> int:
        return sum(s.evaluated for s in self.sites)

    @property
    def blocked(self) -> int:
        return sum(s.blocked for s in self.sites)

    @property
    def pass_rate(self) -> float | None:
        return (self.evaluated - self.blocked) / self.evaluated if self.evaluated else None

    @property
    def pending_reviews(self) -> int:
        return sum(r.pending for r in self.reviews)

    @property
    def oldest_pending_hours(self) -> float | None:
        ages = [r.age_hours for r in self.reviews if r.pending and r.age_hours is not None]
        return max(ages) if ages else None

    def stage_seconds(self, stage: str) -> float | None:
        return next((s.seconds for s in self.stages if s.stage == stage), None)


def cycle_ids(db_url: str, *, limit: int | None = None) -> list[str]:
    """The cycles, newest first."""
    with session_scope(db_url) as session:
        query = select(Cycle.id).order_by(Cycle.run_after.desc(), Cycle.id.desc())
        return list(session.scalars(query.limit(limit) if limit else query))


def summaries(db_url: str, ids: Sequence[str], *, now: datetime) -> list[CycleSummary]:
    """The summaries of these cycles (in the order given); `now` dates the age of pending reviews."""
    ids = list(ids)
    if not ids:
        return []
    with session_scope(db_url) as session:
        out = {c.id: CycleSummary(cycle_id=c.id, run_date=c.run_date, run_after=c.run_after, status=c.status)
               for c in session.scalars(select(Cycle).where(Cycle.id.in_(ids)))}
        _sites(session, ids, out)
        for cycle_id, outcome, n in session.execute(
                select(MatchDecision.cycle_id, MatchDecision.outcome, func.count()).where(
                    MatchDecision.cycle_id.in_(ids)).group_by(MatchDecision.cycle_id, MatchDecision.outcome)):
            out[cycle_id].outcomes[outcome] = n
        _certificates(session, ids, out)
        _stages(session, ids, out)
        _reviews(session, ids, out, now)
    return [out[i] for i in ids if i in out]


def _sites(session: Any, ids: list[str], out: dict[str, CycleSummary]) -> None:
    rows: dict[tuple[str, str], SiteRow] = {}
    for run in session.scalars(select(ExtractionRun).where(ExtractionRun.cycle_id.in_(ids))):
        rows[(run.cycle_id, run.site_code)] = SiteRow(
            site=run.site_code, extraction=run.status, files_new=run.files_new, rows_new=run.rows_new,
            rows_quarantined=run.rows_quarantined, error_reason=run.error_reason or "")
    for q in session.scalars(select(QualityRun).where(QualityRun.cycle_id.in_(ids))):
        row = rows.setdefault((q.cycle_id, q.site_code), SiteRow(site=q.site_code))
        row.evaluated, row.blocked, row.held = q.evaluated, q.blocked, q.held
    for (cycle_id, _), row in sorted(rows.items()):
        out[cycle_id].sites.append(row)


def _certificates(session: Any, ids: list[str], out: dict[str, CycleSummary]) -> None:
    """Issued: first versions; re-issued: later versions (a new dose or a correction); revoked: the earlier
    versions those re-issues put on the revocation list."""
    previous = aliased(Certificate)
    query = (select(Certificate.cycle_id, Certificate.supersedes_id.is_not(None), previous.status, func.count())
             .outerjoin(previous, previous.id == Certificate.supersedes_id)
             .where(Certificate.cycle_id.in_(ids))
             .group_by(Certificate.cycle_id, Certificate.supersedes_id.is_not(None), previous.status))
    for cycle_id, is_reissue, previous_status, n in session.execute(query):
        summary = out[cycle_id]
        if is_reissue:
            summary.reissued += n
            if previous_status == "revoked":
                summary.revoked += n
        else:
            summary.issued += n


def _stages(session: Any, ids: list[str], out: dict[str, CycleSummary]) -> None:
    runs: dict[tuple[str, str], list[StageRun]] = defaultdict(list)
    for run in session.scalars(select(StageRun).where(StageRun.cycle_id.in_(ids))):
        runs[(run.cycle_id, run.stage)].append(run)
    order = {stage: i for i, stage in enumerate(STAGES)}
    for (cycle_id, stage), items in sorted(runs.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        out[cycle_id].stages.append(StageRow(
            stage=stage, runs=len(items), failed=sum(r.status == "failed" for r in items),
            started_at=min(r.started_at for r in items), finished_at=max(r.finished_at for r in items),
            attempts=max(r.attempts for r in items)))


def _reviews(session: Any, ids: list[str], out: dict[str, CycleSummary], now: datetime) -> None:
    # A batch opens when open_review runs; without its timing row (older cycles) the cycle's start stands in.
    opened = dict(session.execute(select(StageRun.cycle_id, StageRun.finished_at).where(
        StageRun.cycle_id.in_(ids), StageRun.stage == "open_review")).tuples().all())
    counts = select(ReviewItem.batch_id, func.count().label("records"),
                    func.count().filter(ReviewItem.decision.is_(None)).label("undecided")).group_by(
        ReviewItem.batch_id).subquery()
    query = (select(ReviewBatch, counts.c.records, counts.c.undecided)
             .join(counts, counts.c.batch_id == ReviewBatch.id)
             .where(ReviewBatch.cycle_id.in_(ids)).order_by(ReviewBatch.district_code))
    for batch, records, undecided in session.execute(query).tuples():
        summary = out[batch.cycle_id]
        opened_at = opened.get(batch.cycle_id) or summary.run_after
        pending = undecided if batch.status == "open" else 0
        until = now if batch.status == "open" else batch.decided_at
        age = (until - opened_at).total_seconds() / 3600 if until is not None else None
        summary.reviews.append(ReviewRow(
            district=batch.district_code, batch_id=batch.id, status=batch.status, records=records,
            pending=pending, opened_at=opened_at, decided_by=batch.decided_by, decided_at=batch.decided_at,
            age_hours=age))


def cycle_certificates(db_url: str, cycle_id: str, *, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
    """How many certificates the cycle issued, and the first `limit` of them (ids, UVCI, version, status and
    the pseudonymous person id)."""
    with session_scope(db_url) as session:
        total = session.scalar(select(func.count()).select_from(Certificate).filter_by(cycle_id=cycle_id)) or 0
        rows = session.execute(select(Certificate.id, Certificate.uvci, Certificate.version, Certificate.status,
                                      Certificate.person_id).filter_by(cycle_id=cycle_id)
                               .order_by(Certificate.id).limit(limit)).all()
    return total, [{"id": r.id, "uvci": r.uvci, "version": r.version, "status": r.status, "person": r.person_id}
                   for r in rows]


CSV_COLUMNS = ("cycle", "run_date", "status", "sites", "records_extracted", "rows_quarantined",
               "quality_evaluated", "quality_blocked", "quality_pass_rate", *(f"match_{o.lower()}" for o in OUTCOMES),
               "review_batches", "pending_reviews", "oldest_pending_hours", "certificates_issued",
               "certificates_reissued", "certificates_revoked", *(f"seconds_{s}" for s in STAGES))


def csv_rows(items: Sequence[CycleSummary]) -> list[dict[str, Any]]:
    """One row per cycle, in `CSV_COLUMNS` (empty where a figure does not apply)."""

    def num(value: float | None, digits: int = 4) -> Any:
        return "" if value is None else round(value, digits)

    return [{
        "cycle": c.cycle_id, "run_date": c.run_date.isoformat(), "status": c.status, "sites": len(c.sites),
        "records_extracted": c.extracted, "rows_quarantined": c.quarantined, "quality_evaluated": c.evaluated,
        "quality_blocked": c.blocked, "quality_pass_rate": num(c.pass_rate),
        **{f"match_{o.lower()}": c.outcomes.get(o, 0) for o in OUTCOMES},
        "review_batches": len(c.reviews), "pending_reviews": c.pending_reviews,
        "oldest_pending_hours": num(c.oldest_pending_hours, 2), "certificates_issued": c.issued,
        "certificates_reissued": c.reissued, "certificates_revoked": c.revoked,
        **{f"seconds_{s}": num(c.stage_seconds(s), 3) for s in STAGES},
    } for c in items]
