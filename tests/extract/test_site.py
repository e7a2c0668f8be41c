"""Extraction into the landing zone and the ops store: incremental, versioned, nothing lost."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from tests.factories import dose_row, make_store, site, write_csv
from vaxpass.extract import extract_site
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, ExtractionRun, LandedFile, RawRecord

ROWS = [dose_row("1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001"),
        dose_row("2", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002")]


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = site()
    url = make_store(tmp_path, [s])
    return s, url, tmp_path / "data", tmp_path / "landing"


def test_extracts_rows_and_lands_an_immutable_copy(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    write_csv(data / s.source.path / "doses_1.csv", ROWS)
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert (summary.status, summary.files_new, summary.rows_new) == ("ok", 1, 2)
    with session_scope(url) as session:
        landed = session.scalars(select(LandedFile)).one()
        copy = Path(landed.landed_path)
        assert copy.name == f"{landed.sha256}.csv" and copy.read_bytes() == (data / s.source.path / "doses_1.csv").read_bytes()
        assert not os.access(copy, os.W_OK) or os.geteuid() == 0
        assert oct(copy.stat().st_mode)[-3:] == "444"
        recs = session.scalars(select(DoseRecord).order_by(DoseRecord.source_key)).all()
        assert [(r.source_key, r.version, r.status) for r in recs] == [("1", 1, "new"), ("2", 1, "new")]
        raws = session.scalars(select(RawRecord).order_by(RawRecord.source_row)).all()
        assert [r.source_row for r in raws] == [2, 3]


def test_rerun_extracts_nothing_new(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    write_csv(data / s.source.path / "doses_1.csv", ROWS)
    extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    again = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert (again.files_new, again.rows_new) == (0, 0)
    # a new file repeating old rows adds only the rows not seen before
    write_csv(data / s.source.path / "doses_2.csv", [*ROWS, dose_row("3", "Lê Hoàng Hòa", "30/11/1985", "Nam",
                                                                      "001085000003")])
    third = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert (third.files_new, third.rows_new) == (1, 1)


def test_changed_row_becomes_a_new_version(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    write_csv(data / s.source.path / "doses_1.csv", ROWS)
    extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    fixed = dose_row("2", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", lot="NEW999")
    write_csv(data / s.source.path / "doses_2.csv", [fixed])
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert summary.rows_new == 1
    with session_scope(url) as session:
        versions = session.execute(select(DoseRecord.version, DoseRecord.status, DoseRecord.lot)
                                   .where(DoseRecord.source_key == "2").order_by(DoseRecord.version)).all()
    assert [tuple(v) for v in versions] == [(1, "superseded", "ABV1234"), (2, "new", "NEW999")]


def test_bad_files_are_kept_and_named_but_do_not_stop_good_ones(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    inbox = data / s.source.path
    write_csv(inbox / "a_missing_columns.csv", ROWS, headers=["Họ và tên", "Ngày sinh"])
    (inbox / "b_garbage.csv").write_bytes(b"\x00\x01\x02\xff" * 100)
    write_csv(inbox / "c_good.csv", ROWS)
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert summary.rows_new == 2
    assert any("a_missing_columns.csv" in p and "missing-columns" in p and s.code in p for p in summary.problems)
    assert any("b_garbage.csv" in p and "binary-file" in p for p in summary.problems)
    with session_scope(url) as session:
        statuses = dict(session.execute(select(LandedFile.source_name, LandedFile.status)).tuples().all())
    assert statuses == {"a_missing_columns.csv": "rejected", "b_garbage.csv": "rejected", "c_good.csv": "landed"}
    assert len(list((landing / s.code).iterdir())) == 3  # nothing lost: every file has its landed copy


def test_row_without_source_key_is_quarantined_with_its_row_number(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    write_csv(data / s.source.path / "doses_1.csv", [ROWS[0], dose_row("", "X", "01/01/1990", "Nam", "1")])
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert summary.rows_quarantined == 1
    assert any("doses_1.csv, row 3: missing_source_key" in p for p in summary.problems)


def test_missing_inbox_fails_the_site_not_the_call(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert summary.status == "failed" and "inbox-missing" in summary.problems[0]
    with session_scope(url) as session:
        run = session.scalars(select(ExtractionRun)).one()
    assert run.status == "failed" and run.error_detail


def test_utf16_and_bom_files_are_read(tmp_path: Path) -> None:
    s, url, data, landing = _setup(tmp_path)
    src = write_csv(tmp_path / "x.csv", ROWS)
    text = src.read_text(encoding="utf-8")
    (data / s.source.path).mkdir(parents=True)
    (data / s.source.path / "u16.csv").write_bytes(text.encode("utf-16"))
    (data / s.source.path / "bom.csv").write_bytes(text.replace("\n2,", "\n9,").encode("utf-8-sig"))
    summary = extract_site(url, cycle_id="cycle-1", site=s, data_dir=data, landing_dir=landing)
    assert summary.problems == [] and summary.rows_new == 3
    with session_scope(url) as session:
        names = set(session.scalars(select(DoseRecord.full_name)))
    assert names == {"Nguyễn Văn An", "Trần Thị Đào"}
