"""The validation stage against the ops store: dose history across sites and cycles, site holds and releases,
the notifier, the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from tests.factories import make_store, site
from vaxpass.domain import SOURCE_HEADERS
from vaxpass.pipeline.validate import (
    QualityHoldError,
    batch_rows,
    dose_frame,
    entry_order,
    held_batches,
    in_entry_order,
    release_site_batch,
    validate_site,
)
from vaxpass.store import session_scope
from vaxpass.store.models import Cycle, DoseRecord, ExtractionRun, LandedFile, Person, QualityRun, RawRecord

RUN_DATE = date(2022, 6, 30)
A, B = "HN-001-01", "HN-001-02"
DAGS = Path(__file__).resolve().parents[2] / "dags"


def add_records(url: str, cycle: str, site_code: str, records: list[dict[str, Any]]) -> list[int]:
    """Dose records as extraction leaves them (status new), with the raw row and landed file they come from."""
    with session_scope(url) as session:
        if session.get(Cycle, cycle) is None:
            session.add(Cycle(id=cycle, run_date=RUN_DATE, run_after=datetime(2022, 6, 30, tzinfo=UTC),
                              dag_id="t", status="running", stats={}))
        run = session.scalar(select(ExtractionRun).filter_by(cycle_id=cycle, site_code=site_code))
        if run is None:
            run = ExtractionRun(cycle_id=cycle, site_code=site_code, status="ok")
            session.add(run)
            session.flush()
        landed = LandedFile(site_code=site_code, source_name=f"{cycle}.csv", sha256=f"{cycle}{site_code}", size=1,
                            landed_path="x", extraction_run_id=run.id, status="landed")
        session.add(landed)
        session.flush()
        ids = []
        for i, values in enumerate(records):
            key = values.pop("key", f"{site_code}-{cycle}-{i:04d}")
            raw = RawRecord(landed_file_id=landed.id, site_code=site_code, source_row=i + 2, source_key=key,
                            content_hash=f"{key}{i}", raw=values.pop("raw", {}))
            session.add(raw)
            session.flush()
            rec = DoseRecord(raw_record_id=raw.id, cycle_id=cycle, site_code=site_code, source_key=key, version=1,
                             status="new", **(dose() | values))
            session.add(rec)
            session.flush()
            ids.append(rec.id)
        return ids


def dose(**changes: Any) -> dict[str, Any]:
    base = {"full_name": "Nguyễn Văn An", "dob": date(1990, 5, 17), "sex": "M", "national_id": "001090000001",
            "phone": "0912345678", "vaccine_raw": "Pfizer", "vaccine_mp": "EU/1/20/1528", "dose_number": 1,
            "vaccination_date": date(2021, 8, 1), "lot": "FL1234", "nationality": "VN", "passport_no": None}
    return base | changes


def person(i: int) -> dict[str, Any]:
    return {"full_name": f"Trần Thị Mai {chr(65 + i % 26)}", "national_id": f"001190{i:06d}", "sex": "F",
            "dob": date(1990, 1, 1 + i % 28)}


def statuses(url: str, ids: list[int]) -> list[tuple[str, str | None]]:
    with session_scope(url) as session:
        return [(r.status, r.status_reason) for r in (session.get(DoseRecord, i) for i in ids) if r]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return make_store(tmp_path, [site(A), site(B)])
    pg: Callable[[], str] = request.getfixturevalue("pg_databases")
    return make_store(tmp_path, [site(A), site(B)], url=pg())


def test_history_across_cycles_and_sites(url: str) -> None:
    first = add_records(url, "c1", A, [dose(), dose(dose_number=2, vaccination_date=date(2021, 9, 1))])
    validate_site(url, cycle_id="c1", site_code=A, run_date=RUN_DATE)
    assert statuses(url, first) == [("valid", None), ("valid", None)]
    later = add_records(url, "c2", B, [
        dose(full_name="NGUYEN VAN AN"),  # the same first dose again, at another site, a cycle later
        dose(dose_number=2, vaccination_date=date(2021, 10, 1)),  # dose 2 twice on different dates
        dose(dose_number=3, vaccination_date=date(2021, 9, 10)),  # 9 days after dose 2 (booster ≥ 28)
        dose(dose_number=3, vaccination_date=date(2021, 8, 1), national_id="001090000002", dob=date(1990, 1, 2)),
    ])
    summary = validate_site(url, cycle_id="c2", site_code=B, run_date=RUN_DATE)
    assert statuses(url, later) == [("quarantined", "duplicate_recorded"), ("quarantined", "dose_order"),
                                    ("quarantined", "dose_interval"), ("valid", None)]
    assert summary.blocked_by_rule == {"dose_interval": 1, "dose_order": 1, "duplicate_recorded": 1}
    assert summary.held is False


def test_history_reaches_a_matched_persons_records_under_another_id(url: str) -> None:
    """A stored dose typed with a wrong ID (or a passport) but matched to the person of CCCD X counts for a new
    record of X, once, however many look-ups find it; the batch's own records are not its history."""
    stored = add_records(url, "c1", A, [dose(national_id="001090000009"), dose(national_id=None, passport_no="B1",
                                                                             dose_number=2,
                                                                             vaccination_date=date(2021, 9, 1))])
    with session_scope(url) as session:
        session.add(Person(id="p1", kind="citizen", full_name="Nguyễn Văn An", dob="1990-05-17",
                           national_id="001090000001", nationality="VN"))
        session.flush()
        for rec in (session.get(DoseRecord, i) for i in stored):
            assert rec is not None
            rec.status, rec.person_id = "matched", "p1"
    later = add_records(url, "c2", B, [dose(), dose(dose_number=2, vaccination_date=date(2021, 9, 1)),
                                       dose(dose_number=3, vaccination_date=date(2021, 12, 1))])
    summary = validate_site(url, cycle_id="c2", site_code=B, run_date=RUN_DATE)
    assert statuses(url, later) == [("quarantined", "duplicate_recorded"), ("quarantined", "duplicate_recorded"),
                                    ("valid", None)]
    assert summary.blocked_by_rule == {"duplicate_recorded": 2}


def test_raw_cells_read_as_stored(url: str) -> None:
    """The `*_raw` columns hold the source's cells as text, whatever JSON type the raw row stored them as —
    numbers past 64 bits included (decoded like `json.loads` does)."""
    cells = [{SOURCE_HEADERS["full_name"]: "  Nguyễn Văn An ", SOURCE_HEADERS["dose_number"]: 2,
              SOURCE_HEADERS["dob"]: None, SOURCE_HEADERS["lot"]: "FL1"},
             {SOURCE_HEADERS["dob"]: 12345678901234567890123, SOURCE_HEADERS["sex"]: True,
              SOURCE_HEADERS["vaccination_date"]: 1.5, SOURCE_HEADERS["full_name"]: ""}]
    add_records(url, "c1", A, [dose(raw=cells[0]), dose(raw=cells[1])])
    with session_scope(url) as session:
        frame = dose_frame(batch_rows(session, DoseRecord.site_code == A))
    raw_columns = ["full_name_raw", "dob_raw", "sex_raw", "dose_number_raw", "vaccination_date_raw"]
    assert [[None if pd.isna(v) else v for v in row] for row in frame[raw_columns].itertuples(index=False)] == [
        ["Nguyễn Văn An", None, None, "2", None], [None, "12345678901234567890123", "True", None, "1.5"]]


@pytest.mark.parametrize("keys", [
    ["HN-268-03-0001028", "HN-268-03-0000590", "HN-268-03-0001028", "HN-268-03-0000009"],  # one shape: text order
    ["r9", "r10", "r1", "r10", "x2", "r09"],  # digit runs of other lengths: natural order
    ["Mũi-10", "Mũi-02", "Mũi-٣", "Mũi-07"],  # beyond ASCII (Arabic-Indic digits are digits too): natural order
])
def test_rows_are_put_in_entry_order(keys: list[str]) -> None:
    rows = [SimpleNamespace(source_key=key, id=i) for i, key in enumerate(keys)]
    assert [r.id for r in in_entry_order(rows)] == [r.id for r in sorted(rows, key=lambda r: entry_order(r.source_key))]


@pytest.mark.parametrize("order", [(A, B), (B, A)])
def test_parallel_sites_agree_on_which_copy_is_the_duplicate(url: str, order: tuple[str, str]) -> None:
    """Two sites deliver the same dose in one cycle: whichever task runs first, the copy of the site that sorts
    later is the duplicate (the pending record of the other site counts)."""
    ids = {A: add_records(url, "c1", A, [dose()]), B: add_records(url, "c1", B, [dose()])}
    for code in order:
        validate_site(url, cycle_id="c1", site_code=code, run_date=RUN_DATE)
    assert statuses(url, ids[A]) == [("valid", None)]
    assert statuses(url, ids[B]) == [("quarantined", "duplicate_recorded")]


def test_a_site_over_its_threshold_is_held_and_released(url: str) -> None:
    good = [person(i) for i in range(8)]
    bad = [person(100 + i) | {"vaccine_raw": "Vắc xin lạ", "vaccine_mp": None} for i in range(17)]
    ids = add_records(url, "c1", A, good + bad)
    other = add_records(url, "c1", B, [person(200 + i) for i in range(25)])
    held = validate_site(url, cycle_id="c1", site_code=A, run_date=RUN_DATE)
    fine = validate_site(url, cycle_id="c1", site_code=B, run_date=RUN_DATE)
    assert (held.held, held.held_records, held.quarantined, held.valid) == (True, 8, 17, 0)
    assert held.blocked_share == pytest.approx(17 / 25) and held.hold_threshold == 0.5
    assert fine.held is False and fine.valid == 25  # the rest of the city goes on
    assert statuses(url, ids[:8]) == [("held", "site_batch_held")] * 8
    assert [h["site_code"] for h in held_batches(url)] == [A]
    assert all(s == ("valid", None) for s in statuses(url, other))

    with pytest.raises(QualityHoldError) as not_held:
        release_site_batch(url, cycle_id="c1", site_code=B, released_by="eng", released_at=datetime.now(UTC))
    assert not_held.value.reason == "not_held"
    at = datetime(2022, 7, 1, tzinfo=UTC)
    assert release_site_batch(url, cycle_id="c1", site_code=A, released_by="eng", released_at=at) == 8
    assert release_site_batch(url, cycle_id="c1", site_code=A, released_by="other", released_at=at) == 0
    assert statuses(url, ids[:8]) == [("valid", None)] * 8
    assert statuses(url, ids[8:]) == [("quarantined", "vaccine_unknown")] * 17
    with session_scope(url) as session:
        run = session.scalar(select(QualityRun).filter_by(cycle_id="c1", site_code=A))
        assert run is not None and run.released_by == "eng" and run.released_at == at


def test_a_small_batch_is_never_held(url: str) -> None:
    ids = add_records(url, "c1", A, [person(1)] + [person(2 + i) | {"dob": None} for i in range(3)])
    summary = validate_site(url, cycle_id="c1", site_code=A, run_date=RUN_DATE)
    assert summary.held is False and statuses(url, ids[:1]) == [("valid", None)]


def test_cli_releases_a_held_batch(url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from vaxpass.cli import main

    add_records(url, "c1", A, [person(i) | {"sex": None} for i in range(20)] + [person(50)])
    assert validate_site(url, cycle_id="c1", site_code=A, run_date=RUN_DATE).held
    monkeypatch.setenv("VAXPASS_DB_URL", url)
    assert main(["quality", "holds"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["held_records"] == 1
    assert main(["quality", "release", "--site", A, "--cycle", "c1", "--by", "eng"]) == 0
    assert "1 held record(s) released" in capsys.readouterr().out
    assert main(["quality", "release", "--site", B, "--cycle", "c1"]) == 2  # nothing held there


def test_notifier_writes_the_outbox_without_personal_data(tmp_path: Path) -> None:
    sys.path.insert(0, str(DAGS))
    try:
        from common.notifiers import QualityHoldNotifier
    finally:
        sys.path.remove(str(DAGS))
    summary = {"site_code": A, "evaluated": 25, "quarantined": 17, "valid": 0, "held": True, "held_records": 8,
               "blocked_share": 0.68, "hold_threshold": 0.5, "blocked_by_rule": {"vaccine_unknown": 17}}

    class TI:
        task_id, map_index = "validate", 0

        def xcom_pull(self, task_ids: str, map_indexes: int) -> dict[str, Any]:
            assert (task_ids, map_indexes) == ("validate", 0)
            return summary

    class Run:
        run_id = "scheduled__2022-06-30"

    outbox = tmp_path / "out" / "holds.jsonl"
    QualityHoldNotifier(outbox=outbox).notify({"ti": TI(), "dag_run": Run()})
    message = json.loads(outbox.read_text())
    assert message["site_code"] == A and message["held_records"] == 8
    assert f"vaxpass quality release --site {A} --cycle scheduled__2022-06-30" in message["body"]
    summary["held"] = False
    QualityHoldNotifier(outbox=outbox).notify({"ti": TI(), "dag_run": Run()})
    assert len(outbox.read_text().splitlines()) == 1  # nothing to say when the batch went on


def test_a_site_with_nothing_new_is_judged_without_great_expectations(url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    add_records(url, "c1", A, [dose()])
    validate_site(url, cycle_id="c1", site_code=A, run_date=RUN_DATE)  # A's record: GE judges it

    def no_ge(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Great Expectations ran for an empty batch")

    monkeypatch.setattr("vaxpass.quality.validate.run_suite", no_ge)
    summary = validate_site(url, cycle_id="c1", site_code=B, run_date=RUN_DATE)  # B delivered nothing
    assert (summary.evaluated, summary.quarantined, summary.valid, summary.held) == (0, 0, 0, False)
    with session_scope(url) as session:
        runs = {r.site_code: r for r in session.scalars(select(QualityRun).filter_by(cycle_id="c1"))}
        assert runs[B].evaluated == 0 and runs[B].docs_result is None and runs[B].ge_success
        assert set(runs[B].rule_stats) == set(runs[A].rule_stats)  # every rule, nothing evaluated
        assert all(s == {"evaluated": 0, "failed": 0} for s in runs[B].rule_stats.values())
        assert runs[A].docs_result is not None
