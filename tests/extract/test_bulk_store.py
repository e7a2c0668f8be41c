"""The bulk path of the store on both ops stores: many chunks per delivery (on PostgreSQL written by a writer
thread while the next chunk is prepared), keys repeated and changed across chunks, and a delivery that breaks
after chunks were written leaving nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import dose_row, make_store, site, write_csv
from vaxpass.extract import extract_site
from vaxpass.store import session_scope
from vaxpass.store.models import DoseRecord, LandedFile, RawRecord


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return make_store(tmp_path, [site()])
    pg: Callable[[], str] = request.getfixturevalue("pg_databases")
    return make_store(tmp_path, [site()], url=pg())


def _row(i: int, lot: str = "ABV1234") -> dict[str, str]:
    return dose_row(str(i), "Nguyễn Văn An", "12/05/1990", "Nam", f"0010900{i:05d}", lot=lot)


def _extract(url: str, tmp: Path, cycle: str = "cycle-1"):  # type: ignore[no-untyped-def]
    return extract_site(url, cycle_id=cycle, site=site(), data_dir=tmp / "data", landing_dir=tmp / "landing",
                        chunk_rows=3)


def test_many_chunks_repeats_and_changes(store_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "data" / site().source.path
    rows = [_row(i) for i in range(1, 11)]
    # row 4 repeated verbatim in a later chunk (skipped), row 2 changed in a later chunk (a new version in the
    # same delivery), a row without a key (quarantined, named by its row)
    rows += [_row(4), _row(2, lot="LOT2"), {**_row(99), "Mã mũi tiêm": ""}]
    write_csv(inbox / "a.csv", rows)
    first = _extract(store_url, tmp_path)
    assert (first.rows_new, first.rows_quarantined) == (12, 1)
    assert any("a.csv" in p and "missing_source_key" in p for p in first.problems)
    write_csv(inbox / "b.csv", [_row(5), _row(7, lot="LOT7"), _row(11)])
    second = _extract(store_url, tmp_path)
    assert (second.rows_new, second.rows_quarantined) == (2, 0)
    assert _extract(store_url, tmp_path).rows_new == 0
    with session_scope(store_url) as session:
        recs = session.execute(select(DoseRecord.source_key, DoseRecord.version, DoseRecord.status, DoseRecord.lot)
                               .order_by(DoseRecord.source_key, DoseRecord.version)).tuples().all()
        raw_rows = session.execute(select(RawRecord.source_key, RawRecord.source_row)
                                   .order_by(RawRecord.id)).tuples().all()
    by_key: dict[str, list[tuple[int, str, str | None]]] = {}
    for key, version, status, lot in recs:
        by_key.setdefault(key, []).append((version, status, lot))
    assert by_key["2"] == [(1, "superseded", "ABV1234"), (2, "new", "LOT2")]
    assert by_key["7"] == [(1, "superseded", "ABV1234"), (2, "new", "LOT7")]
    assert by_key["4"] == [(1, "new", "ABV1234")] and by_key["11"] == [(1, "new", "ABV1234")]
    assert [k for k in by_key if k.startswith("~")] and len(recs) == 14
    assert raw_rows[:3] == [("1", 2), ("2", 3), ("3", 4)] and ("2", 13) in raw_rows


def test_a_delivery_breaking_after_written_chunks_leaves_nothing(store_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "data" / site().source.path
    path = write_csv(inbox / "a.csv", [_row(i) for i in range(1, 13)])
    with path.open("a", encoding="utf-8") as fh:  # a cell past the reader's 16 MB field limit: unreadable
        fh.write("13," + "x" * ((1 << 24) + 16) + ",01/01/1990\n")
    write_csv(inbox / "b.csv", [_row(20)])
    summary = _extract(store_url, tmp_path)
    assert summary.rows_new == 1 and summary.files_rejected == 1
    assert any("a.csv" in p and "malformed-csv" in p for p in summary.problems)
    with session_scope(store_url) as session:
        assert session.scalar(select(func.count()).select_from(RawRecord)) == 1
        assert session.scalar(select(func.count()).select_from(DoseRecord)) == 1
        rejected = session.scalars(select(LandedFile).filter_by(status="rejected")).one()
        assert rejected.source_name == "a.csv" and rejected.error_row == 14
