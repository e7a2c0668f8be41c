"""FHIR R4 Immunization + Patient bundles: over HTTP from a real local server, and from a folder of pages."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.extract.conftest import Env, with_source
from tests.extract.fhir_server import FhirStore, fhir_server
from tests.factories import dose_row, site
from vaxpass.extract.fhir_path import column_texts, evaluate, text_of
from vaxpass.extract.fhir_source import bundle_rows, fhir_instant, later_instant
from vaxpass.store import session_scope
from vaxpass.store.models import LandedFile, RawRecord, SourceWatermark
from vaxpass.synth.fhir import bundle, resources


def _res(key: str, name: str, stamp: str, lot: str = "ABV1234") -> tuple[dict, dict]:
    return resources(tuple(dose_row(key, name, "12/05/1990", "Nam", "001090000001", lot=lot).values()), stamp)


def test_paged_bundles_over_http_incrementally(tmp_path: Path) -> None:
    store = FhirStore()
    for i in range(5):
        store.put(*_res(f"IMM-{i}", "Nguyễn Văn An", f"2021-08-15T08:00:0{i}Z"))
    with fhir_server(store) as base:
        s = with_source(site(), kind="fhir", conn_id="feed", options={"page_size": 2, "timeout_s": 5})
        env = Env(tmp_path, [s], {"feed": base})
        first = env.run(s)
        assert (first.status, first.files_new, first.rows_new) == ("ok", 3, 5), first.problems
        again = env.run(s)
        assert (again.files_new, again.rows_new) == (0, 0)
        assert "_lastUpdated=gt2021-08-15T08%3A00%3A04Z" in store.requests[-1]
        store.put(*_res("IMM-1", "Nguyễn Văn An", "2021-08-16T09:00:00Z", lot="NEW1"))
        store.put(*_res("IMM-9", "Trần Thị Đào", "2021-08-16T09:00:01Z"))
        third = env.run(s)
        assert (third.files_new, third.rows_new) == (1, 2)
        store.fail_with = 503
        down = env.run(s)
        assert down.status == "failed" and "fhir-unreachable (HTTP 503)" in down.problems[0]
    recs = env.records()
    assert [(r.source_key, r.version, r.status) for r in recs][:3] == [
        ("IMM-0", 1, "new"), ("IMM-1", 1, "superseded"), ("IMM-1", 2, "new")]
    r = recs[0]
    assert (r.full_name, r.dob, r.sex, r.national_id, r.dose_number) == (
        "Nguyễn Văn An", date(1990, 5, 12), "M", "001090000001", 1)
    assert (r.vaccine_mp, r.vaccination_date, r.phone) == ("EU/1/21/1529", date(2021, 8, 15), "0912345678")
    with session_scope(env.url) as session:
        pages = session.scalars(select(LandedFile)).all()
        raw = session.scalars(select(RawRecord)).first()
        mark = session.get(SourceWatermark, s.code)
    assert all(p.delivery_kind == "page" and json.loads(Path(p.landed_path).read_bytes())["resourceType"] == "Bundle"
               for p in pages)
    assert raw is not None and raw.raw["Họ và tên"] == "Nguyễn Văn An" and raw.source_row == 1
    assert mark is not None and mark.value == {"last_updated": "2021-08-16T09:00:01Z"}


def test_folder_of_pages_contained_patient_and_bad_entries(tmp_path: Path) -> None:
    s = with_source(site(), kind="fhir", path="feeds/site")
    env = Env(tmp_path, [s])
    folder = env.data / "feeds/site"
    folder.mkdir(parents=True)
    p1, i1 = _res("A1", "Lê Hoàng Hòa", "2022-01-01T00:00:00Z")
    i1 = {**i1, "contained": [{**p1, "id": "p"}], "patient": {"reference": "#p"}}
    _, orphan = _res("A2", "X", "2022-01-01T00:00:00Z")
    p3, i3 = _res("A3", "Y", "2022-01-01T00:00:00Z")
    i3 = {**i3, "status": "entered-in-error"}
    page = bundle([(p3, i3)])
    page["entry"] = [{"resource": i1}, {"resource": orphan}, *page["entry"]]
    (folder / "page-0001.json").write_text(json.dumps(page))
    (folder / "page-0002.json").write_text("{not json")
    summary = env.run(s)
    assert summary.rows_new == 3 and summary.rows_quarantined == 2
    assert any("page-0001.json, row 2: patient_missing" in p for p in summary.problems)
    assert any("page-0001.json, row 3: entered_in_error" in p for p in summary.problems)
    assert any("page-0002.json: bad-bundle" in p for p in summary.problems)
    assert {r.source_key: r.full_name for r in env.records()}["A1"] == "Lê Hoàng Hòa"


def test_last_updated_is_compared_as_an_instant_with_its_time_zone(tmp_path: Path) -> None:
    """"20:00+07:00" is 13:00Z: a later "14:00Z" must move the watermark on, though it sorts lower as text."""
    store = FhirStore()
    store.put(*_res("IMM-0", "Nguyễn Văn An", "2021-08-15T20:00:00+07:00"))
    store.put(*_res("IMM-1", "Trần Thị Đào", "2021-08-15T12:00:00Z"))
    with fhir_server(store) as base:
        s = with_source(site(), kind="fhir", conn_id="feed", options={"page_size": 10, "timeout_s": 5})
        env = Env(tmp_path, [s], {"feed": base})
        assert env.run(s).rows_new == 2
        store.put(*_res("IMM-2", "Lê Hoàng Hòa", "2021-08-15T14:00:00.250Z"))
        second = env.run(s)
        assert (second.status, second.rows_new) == ("ok", 1), second.problems
        assert "_lastUpdated=gt2021-08-15T20%3A00%3A00%2B07%3A00" in store.requests[-1]
        third = env.run(s)
        assert (third.files_new, third.rows_new) == (0, 0)
        assert "_lastUpdated=gt2021-08-15T14%3A00%3A00.250Z" in store.requests[-1]
    with session_scope(env.url) as session:
        mark = session.get(SourceWatermark, s.code)
    assert mark is not None and mark.value == {"last_updated": "2021-08-15T14:00:00.250Z"}


@pytest.mark.parametrize(("text", "expected"), [
    ("2021-08-15T20:00:00+07:00", datetime(2021, 8, 15, 13, tzinfo=UTC)),
    ("2021-08-15T13:00:00.5Z", datetime(2021, 8, 15, 13, 0, 0, 500000, tzinfo=UTC)),
    ("2021-08-15T13:00:00", None), ("2021-08-15", None), ("yesterday", None), ("", None)])
def test_fhir_instant(text: str, expected: datetime | None) -> None:
    assert fhir_instant(text) == expected


def test_later_instant_ignores_stamps_that_are_not_instants() -> None:
    assert later_instant("2021-08-15T20:00:00+07:00", "2021-08-15T14:00:00Z") == "2021-08-15T14:00:00Z"
    assert later_instant("2021-08-15T14:00:00Z", "2021-08-15T20:00:00+07:00") == "2021-08-15T14:00:00Z"
    assert later_instant("", "2021-08-15T14:00:00Z") == "2021-08-15T14:00:00Z"
    assert later_instant("2021-08-15T14:00:00Z", "2099-01-01") == "2021-08-15T14:00:00Z"


_ODD_RESOURCES = [
    None, {}, [], "text", 7, True, {"a": None}, {"a": []}, {"a": [None]}, {"a": "x"}, {"a": 1.5}, {"a": False},
    {"a": {"b": "y"}}, {"a": [{"b": "z"}, {"b": "w"}]}, {"a": [[{"b": "deep"}]]}, {"a": {"b": ["l0", "l1"]}},
    {"a": {"b": [{"c": 1}, {"c": 2}]}}, {"a": [{"s": "u", "v": "1"}, {"s": "k", "v": "2"}, "bare"]},
    {"a": {"s": "k", "v": "single"}}, {"a": [{"s": 3, "v": "num"}]}, {"a": [], "b": {}}, [{"a": "in a list"}],
    [[{"a": "two lists"}]], {"a": {"b": {}}}, {"a": {"b": [[]]}},
]
_PATHS = ["", "a", "a.b", "a[0]", "a[1]", "a[5]", "a[0].b", "a[1].b", "a.b[0]", "a.b[1].c", "a.b[0].c",
          "a[s=k].v", "a[s=u].v", "a[s=3].v", "a[s=none].v", "b", "a.b.c.d", "a[0][0]"]


@pytest.mark.parametrize("path", _PATHS)
def test_a_column_at_a_time_reads_what_each_cell_would(path: str) -> None:
    assert column_texts(_ODD_RESOURCES, path) == [text_of(evaluate(r, path)) for r in _ODD_RESOURCES]


def test_bundle_rows_read_by_columns_keep_positions_problems_and_columns() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"text": "A"}], "birthDate": "2000-01-02"}
    imm = {"resourceType": "Immunization", "patient": {"reference": "Patient/p1"}, "lotNumber": "L1",
           "identifier": [{"value": "k1"}]}
    page = {"resourceType": "Bundle", "entry": [
        {"resource": patient},
        {"resource": imm},
        {"resource": {**imm, "status": "entered-in-error", "identifier": [{"value": "k2"}]}},
        {"resource": {**imm, "patient": {"reference": "Patient/gone"}, "identifier": [{"value": "k3"}]}}]}
    paths = ["identifier[0].value", "patient.name[0].text", "patient.birthDate", "lotNumber"]
    rows = list(bundle_rows(json.dumps(page).encode(), "S", "page", paths).rows)
    assert [(r.row, r.problem, r.cells) for r in rows] == [
        (2, None, {"identifier[0].value": "k1", "patient.name[0].text": "A", "patient.birthDate": "2000-01-02",
                   "lotNumber": "L1"}),
        (3, "entered_in_error", {"identifier[0].value": "k2", "patient.name[0].text": "A",
                                 "patient.birthDate": "2000-01-02", "lotNumber": "L1"}),
        (4, "patient_missing", {"identifier[0].value": "k3", "patient.name[0].text": "",
                                "patient.birthDate": "", "lotNumber": "L1"})]
    assert [r.cells for r in bundle_rows(json.dumps(page).encode(), "S", "page", []).rows] == [{}, {}, {}]
