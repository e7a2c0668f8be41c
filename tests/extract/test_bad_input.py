"""The bad-input corpus: every case gives a clear problem naming site, file (and row), is kept in the landing
zone with its reason, loses nothing, and does not stop the other files or sites."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.extract import corpus
from tests.extract.conftest import Env
from tests.factories import site, write_csv
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, LandedFile, RawRecord


def test_bad_input_corpus(tmp_path: Path) -> None:
    bad, good = site("HN-001-01"), site("HN-001-02")
    env = Env(tmp_path, [bad, good])
    cases = corpus.build(env.data / bad.source.path)
    assert len(cases) >= 15
    write_csv(env.data / good.source.path / "doses.csv", corpus.GOOD)
    summary = env.run(bad)
    other = env.run(good)
    assert (other.status, other.rows_new) == ("ok", 2)
    assert summary.status == "ok"  # a bad file is the file's problem, not the site's
    problems = summary.problems
    with session_scope(env.url) as session:
        landed = {f.source_name: f for f in session.scalars(select(LandedFile).where(LandedFile.site_code == bad.code))}
        quarantined = {(f, r.source_row, d.status_reason) for d, r, f in session.execute(
            select(DoseRecord, RawRecord, LandedFile.source_name).join(RawRecord, RawRecord.id == DoseRecord.raw_record_id)
            .join(LandedFile, LandedFile.id == RawRecord.landed_file_id).where(DoseRecord.status == "quarantined")).tuples()}
    for case in cases:
        where = f"site {bad.code}, file {case.name}" + (f", row {case.row}" if case.row is not None else "")
        assert any(p.startswith(f"{where}: {case.reason}") for p in problems), (case, problems)
        if case.outcome == "file":
            f = landed[case.name]
            assert (f.status, f.error_reason, f.error_row) == ("rejected", case.reason, case.row), case
        elif case.outcome == "row":
            assert (case.name, case.row, case.reason) in quarantined, case
            assert landed[case.name].status == "landed"
    # nothing lost: every distinct file has its immutable copy in the landing zone
    names = {c.name for c in cases} | {"09_twice_a.csv"}
    assert set(landed) == names - {"09_twice_b.csv"}
    copies = list((env.landing / bad.code).iterdir())
    assert len(copies) == len(landed) and all(Path(f.landed_path).exists() for f in landed.values())
    assert landed["08_huge.csv"].size > corpus.HUGE_BYTES
    # good rows of partly bad files came in: 01 (2 good), 06, 07, 10, 14, 19, 20, 21 (1 good each), 13, 09
    recs = env.records(bad.code)
    assert {r.source_key for r in recs if r.status == "new"} >= {"1", "2", "61", "71", "101", "102", "131", "91"}
    # the rerun extracts nothing and repeats no problem
    again = env.run(bad, cycle_id="cycle-1")
    assert (again.files_new, again.rows_new, again.problems) == (0, 0, [])


def test_problems_name_no_personal_data(tmp_path: Path) -> None:
    s = site()
    env = Env(tmp_path, [s])
    corpus.build(env.data / s.source.path)
    summary = env.run(s)
    text = repr(summary.as_dict())
    for needle in ("Nguyễn", "Trần", "Lê Hoàng", "001085000003", "0912345678", "HYPERLINK"):
        assert needle not in text
