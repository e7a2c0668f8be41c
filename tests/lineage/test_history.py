"""Run history: each cycle's figures equal what the ops store holds, stage timings are recorded (failures
too), and the CSV rows carry the same numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.factories import dose_row
from tests.issuance.test_issue import ROWS, _cycle, _issue, signer  # noqa: F401 - the module-scoped signer fixture
from vaxpass.history import CSV_COLUMNS, csv_rows, cycle_certificates, cycle_ids, stage_run, summaries, timed
from vaxpass.signing.keystore import Signer
from vaxpass.store import session_scope
from vaxpass.store.models import Certificate, DoseRecord, MatchDecision, ReviewBatch, ReviewItem, StageRun

T0 = datetime(2026, 11, 27, 3, tzinfo=UTC)


def _clock(*times: datetime) -> Callable[[], datetime]:
    ticks: Iterator[datetime] = iter(times)
    return lambda: next(ticks)


@pytest.fixture
def two_cycles(tmp_path: Path, signer: Signer) -> str:  # noqa: F811
    url = _cycle(tmp_path, ROWS)
    _issue(url, signer)
    booster = dose_row("4", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", vaccine="Pfizer", dose="3",
                       date="01/02/2022")
    url = _cycle(tmp_path, [*ROWS, booster], cycle_id="cycle-2", file="d2.csv")
    _issue(url, signer, cycle_id="cycle-2")
    with session_scope(url) as session:
        # a pending district batch in cycle 2 (one record waiting), opened at T0
        record = session.scalars(select(DoseRecord).order_by(DoseRecord.id)).first()
        decision = session.scalars(select(MatchDecision).order_by(MatchDecision.id)).first()
        assert record is not None and decision is not None
        batch = ReviewBatch(cycle_id="cycle-2", district_code="001", status="open")
        session.add(batch)
        session.flush()
        session.add(ReviewItem(batch_id=batch.id, dose_record_id=record.id, match_decision_id=decision.id,
                               reason="name_mismatch"))
    for stage, key, start, seconds in [("extract", "HN-001-01", T0 - timedelta(minutes=10), 30),
                                       ("match", "", T0 - timedelta(minutes=5), 12.5),
                                       ("confirm", "HN-001-01", T0 - timedelta(minutes=4), 3),
                                       ("open_review", "", T0 - timedelta(seconds=2), 2)]:
        with stage_run(url, cycle_id="cycle-2", stage=stage, key=key,
                       clock=_clock(start, start + timedelta(seconds=seconds))):
            pass
    return url


def test_summaries_equal_the_store(two_cycles: str) -> None:
    url = two_cycles
    now = T0 + timedelta(hours=5)
    assert set(cycle_ids(url)) == {"cycle-1", "cycle-2"}
    one, two = summaries(url, ["cycle-1", "cycle-2"], now=now)
    with session_scope(url) as session:
        outcomes = dict(session.execute(select(MatchDecision.outcome, func.count()).filter_by(
            cycle_id="cycle-2").group_by(MatchDecision.outcome)).tuples().all())
        certs_1 = session.scalar(select(func.count()).select_from(Certificate).filter_by(cycle_id="cycle-1"))
    assert (one.issued, one.reissued, one.revoked) == (certs_1, 0, 0) == (2, 0, 0)
    assert (two.issued, two.reissued, two.revoked) == (0, 1, 0)  # the booster supersedes, it does not revoke
    assert two.outcomes == outcomes and sum(outcomes.values()) > 0
    assert [s.site for s in two.sites] == ["HN-001-01"]
    assert (two.extracted, two.evaluated, two.blocked, two.pass_rate) == (1, 4, 0, 1.0)  # one new row in d2.csv
    assert [(r.district, r.status, r.records, r.pending) for r in two.reviews] == [("001", "open", 1, 1)]
    assert two.reviews[0].age_hours == pytest.approx(5.0)  # opened when open_review finished (T0)
    assert two.oldest_pending_hours == pytest.approx(5.0) and one.pending_reviews == 0
    assert two.stage_seconds("extract") == 30 and two.stage_seconds("match") == 12.5
    assert two.stage_seconds("confirm") == 3
    assert [s.stage for s in two.stages] == ["extract", "match", "confirm", "open_review"]  # flow order


def test_a_revoked_previous_version_counts_as_revoked(two_cycles: str) -> None:
    with session_scope(two_cycles) as session:
        previous = session.scalars(select(Certificate).filter_by(status="superseded")).one()
        previous.status = "revoked"  # a correction, not a new dose
    (two,) = summaries(two_cycles, ["cycle-2"], now=T0)
    assert (two.reissued, two.revoked) == (1, 1)


def test_csv_rows_carry_the_same_figures(two_cycles: str) -> None:
    items = summaries(two_cycles, cycle_ids(two_cycles), now=T0 + timedelta(hours=1))
    rows = csv_rows(items)
    assert all(list(row) == list(CSV_COLUMNS) for row in rows)
    by_cycle = {row["cycle"]: row for row in rows}
    two = next(c for c in items if c.cycle_id == "cycle-2")
    assert by_cycle["cycle-2"]["certificates_reissued"] == two.reissued == 1
    assert by_cycle["cycle-2"]["pending_reviews"] == 1 and by_cycle["cycle-2"]["oldest_pending_hours"] == 1.0
    assert by_cycle["cycle-2"]["seconds_match"] == 12.5 and by_cycle["cycle-1"]["seconds_match"] == ""
    assert by_cycle["cycle-2"]["seconds_confirm"] == 3 and by_cycle["cycle-1"]["seconds_confirm"] == ""
    assert by_cycle["cycle-1"]["certificates_issued"] == 2


def test_cycle_certificates_lists_ids_not_personal_data(two_cycles: str) -> None:
    total, certs = cycle_certificates(two_cycles, "cycle-1", limit=1)
    assert total == 2 and len(certs) == 1
    assert set(certs[0]) == {"id", "uvci", "version", "status", "person"}
    assert certs[0]["uvci"].startswith("URN:UVCI:01:VN:")


def test_stage_run_records_a_failure_and_reraises(two_cycles: str) -> None:
    clock = _clock(T0, T0 + timedelta(seconds=3), T0 + timedelta(seconds=10), T0 + timedelta(seconds=11))
    with pytest.raises(RuntimeError, match="boom"), stage_run(two_cycles, cycle_id="cycle-1", stage="match",
                                                               clock=clock):
        raise RuntimeError("boom")
    with stage_run(two_cycles, cycle_id="cycle-1", stage="match", clock=clock):
        pass  # the rerun overwrites the times and counts the attempt
    with session_scope(two_cycles) as session:
        row = session.scalars(select(StageRun).filter_by(cycle_id="cycle-1", stage="match")).one()
        assert (row.status, row.attempts, (row.finished_at - row.started_at).total_seconds()) == ("success", 2, 1)


def test_timed_names_the_stage_by_function_key_or_argument(two_cycles: str) -> None:
    settings = SimpleNamespace(db_url=two_cycles)

    @timed(key="site_code")
    def validate(s: object, *, cycle_id: str, site_code: str) -> str:
        return site_code

    @timed(stage_arg="task_id")
    def issue(s: object, *, cycle_id: str, task_id: str) -> None:
        raise ValueError("no signer")

    assert validate(settings, cycle_id="cycle-1", site_code="HN-001-01") == "HN-001-01"
    with pytest.raises(ValueError):
        issue(settings, cycle_id="cycle-1", task_id="issue_reviewed")
    with session_scope(two_cycles) as session:
        rows = {(r.stage, r.key, r.status) for r in session.scalars(select(StageRun).filter_by(cycle_id="cycle-1"))}
    assert rows == {("validate", "HN-001-01", "success"), ("issue_reviewed", "", "failed")}
