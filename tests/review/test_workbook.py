"""The Excel round trip: export the district's open records, edit offline, import back — all or nothing."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.review.conftest import AT, ReviewStore
from vaxpass.review.workbook import FIRST_DATA_ROW, SHEET, WorkbookError, export_workbook, import_workbook
from vaxpass.store import session_scope
from vaxpass.store.models import ReviewAction


def _sheet(st: ReviewStore) -> tuple[object, object, dict[str, int], dict[int, int]]:
    wb = load_workbook(BytesIO(export_workbook(st.url, st.registry, "001")))
    ws = wb[SHEET]
    columns = {c.value: c.column for c in ws[1]}
    rows = {ws.cell(r, columns["record_id"]).value: r for r in range(FIRST_DATA_ROW, ws.max_row + 1)}
    return wb, ws, columns, rows


def _save(wb: object) -> bytes:
    out = BytesIO()
    wb.save(out)  # type: ignore[attr-defined]
    return out.getvalue()


def _import(st: ReviewStore, content: bytes, district: str = "001", actor: str = "rv_001") -> int:
    return import_workbook(st.url, content, district_code=district, actor=actor, acted_at=AT)


def _actions(st: ReviewStore) -> list[ReviewAction]:
    with session_scope(st.url) as s:
        return list(s.scalars(select(ReviewAction).order_by(ReviewAction.id)))


def test_export_lists_the_open_records_with_candidates_and_values(store: ReviewStore) -> None:
    _, ws, columns, rows = _sheet(store)
    assert set(rows) == {store.ids["tam"], store.ids["binh"], store.ids["an2"]}
    binh = rows[store.ids["binh"]]
    assert ws.cell(binh, columns["candidates"]).value.startswith("5: Nguyễn Văn Bình")  # type: ignore[attr-defined]
    assert ws.cell(rows[store.ids["an2"]], columns["dob"]).value == "1990-05-13"  # type: ignore[attr-defined]


def test_an_edited_file_is_applied_as_the_importers_decisions(store: ReviewStore) -> None:
    wb, ws, columns, rows = _sheet(store)
    put = ws.cell  # type: ignore[attr-defined]
    put(rows[store.ids["binh"]], columns["decision"], "accept")
    put(rows[store.ids["binh"]], columns["registry_id"], 6)
    put(rows[store.ids["an2"]], columns["decision"], "correct")
    put(rows[store.ids["an2"]], columns["dob"], "12/05/1990")
    put(rows[store.ids["tam"]], columns["decision"], "reject")
    put(rows[store.ids["tam"]], columns["reject_reason"], "not_resident")
    put(rows[store.ids["tam"]], columns["note"], "chuyển đi")
    assert _import(store, _save(wb)) == 3
    got = {a.dose_record_id: a for a in _actions(store)}
    assert got[store.ids["binh"]].registry_id == 6
    assert got[store.ids["an2"]].fields == {"dob": "12/05/1990"}  # only what changed
    assert got[store.ids["tam"]].reason_code == "not_resident"
    assert {(a.actor, a.channel, a.status) for a in got.values()} == {("rv_001", "xlsx", "pending")}


def test_a_bad_file_names_every_bad_row_and_changes_nothing(store: ReviewStore) -> None:
    wb, ws, columns, rows = _sheet(store)
    put = ws.cell  # type: ignore[attr-defined]
    good = rows[store.ids["binh"]]
    put(good, columns["decision"], "accept")
    put(good, columns["registry_id"], 5)
    put(rows[store.ids["an2"]], columns["decision"], "correct")
    put(rows[store.ids["an2"]], columns["dob"], "2031-01-01")  # after the run date
    put(rows[store.ids["tam"]], columns["decision"], "reject")
    put(rows[store.ids["tam"]], columns["reject_reason"], "because")
    extra = ws.max_row + 1  # type: ignore[attr-defined]
    put(extra, columns["record_id"], store.ids["an1"])  # certified already: not an open record
    put(extra, columns["decision"], "reject")
    put(extra, columns["reject_reason"], "duplicate")
    put(extra + 1, columns["record_id"], 99999)  # unknown
    put(extra + 1, columns["decision"], "reject")
    put(extra + 1, columns["reject_reason"], "duplicate")
    with pytest.raises(WorkbookError) as err:
        _import(store, _save(wb))
    bad = {(p.row, p.rule) for p in err.value.problems}
    assert {(rows[store.ids["tam"]], "unknown_reason"), (extra, "not_open_in_district"),
            (extra + 1, "not_open_in_district")} <= bad
    assert all(row != good for row, _ in bad)
    assert _actions(store) == []


def test_the_dob_row_is_named_when_only_the_rules_refuse(store: ReviewStore) -> None:
    wb, ws, columns, rows = _sheet(store)
    ws.cell(rows[store.ids["an2"]], columns["decision"], "correct")  # type: ignore[attr-defined]
    ws.cell(rows[store.ids["an2"]], columns["dob"], "2031-01-01")  # type: ignore[attr-defined]
    with pytest.raises(WorkbookError) as err:
        _import(store, _save(wb))
    assert {(p.row, p.column) for p in err.value.problems} >= {(rows[store.ids["an2"]], "dob")}
    assert "2031" not in str(err.value)


def test_another_districts_file_or_reviewer_is_refused(store: ReviewStore) -> None:
    wb, ws, columns, rows = _sheet(store)
    ws.cell(rows[store.ids["binh"]], columns["decision"], "accept")  # type: ignore[attr-defined]
    ws.cell(rows[store.ids["binh"]], columns["registry_id"], 5)  # type: ignore[attr-defined]
    content = _save(wb)
    with pytest.raises(WorkbookError) as err:
        _import(store, content, district="006", actor="rv_006")  # district 001's records through 006
    assert [p.rule for p in err.value.problems] == ["not_open_in_district"]
    with pytest.raises(WorkbookError) as err:
        _import(store, content, actor="rv_006")
    assert [p.rule for p in err.value.problems] == ["not_a_reviewer"]
    assert _actions(store) == []


@pytest.mark.parametrize("content", [b"not a spreadsheet", b"PK\x03\x04garbage"])
def test_a_file_that_is_not_xlsx_is_refused(store: ReviewStore, content: bytes) -> None:
    with pytest.raises(WorkbookError) as err:
        _import(store, content)
    assert [p.rule for p in err.value.problems] == ["not_xlsx"]


def test_a_file_without_decisions_is_refused(store: ReviewStore) -> None:
    with pytest.raises(WorkbookError) as err:
        _import(store, export_workbook(store.url, store.registry, "001"))
    assert [p.rule for p in err.value.problems] == ["nothing_decided"]
