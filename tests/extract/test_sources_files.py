"""Inbox files: Excel workbooks, encodings (UTF-8, BOM, UTF-16 "Unicode text", Windows-1258), column mapping."""

from __future__ import annotations

from datetime import date, datetime

import openpyxl
import pytest

from tests.extract.conftest import Env, with_source
from tests.extract.corpus import GOOD, _csv_text, cp1258
from tests.factories import HEADERS, site
from vaxpass.domain import SiteConfig
from vaxpass.errors import ConfigError


def test_xlsx_with_date_cells_serials_and_numbers(env: Env) -> None:
    s = site()
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(HEADERS)
    # a CCCD typed as a number loses its leading zeros; a date cell; an Excel serial typed as a number
    ws.append(["1", "Nguyễn Văn An", datetime(1990, 5, 12), "Nam", 1090000001, 912345678, "Pfizer", 2, 44423,
               "FF1234", "VN", None])
    ws.append(["2", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", "", "Vero Cell", 1.0, "2021-08-15"])
    (env.data / s.source.path).mkdir(parents=True)
    book.save(env.data / s.source.path / "so_tiem.xlsx")
    summary = env.run(s)
    assert (summary.rows_new, summary.problems) == (2, [])
    a, b = env.records()
    assert (a.dob, a.national_id, a.phone, a.dose_number, a.vaccination_date) == (
        date(1990, 5, 12), "001090000001", "0912345678", 2, date(2021, 8, 15))
    assert (b.dob, b.dose_number, b.vaccination_date, b.vaccine_mp) == (date(1990, 3, 7), 1, date(2021, 8, 15),
                                                                       "BBIBP-CorV")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-tab", "cp1258"])
def test_encodings(env: Env, encoding: str) -> None:
    s = site()
    text = _csv_text(GOOD)
    data = {"utf-8": text.encode(), "utf-8-sig": text.encode("utf-8-sig"), "cp1258": cp1258(text),
            "utf-16-tab": text.replace(",", "\t").encode("utf-16")}[encoding]
    (env.data / s.source.path).mkdir(parents=True)
    (env.data / s.source.path / "export.txt").write_bytes(data)
    summary = env.run(s)
    assert (summary.rows_new, summary.problems) == (2, [])
    assert [r.full_name for r in env.records()] == ["Nguyễn Văn An", "Trần Thị Đào"]


def test_column_map_with_own_headers_nfd_and_case(env: Env) -> None:
    own = {"source_key": "STT phiếu", "full_name": "HỌ VÀ TÊN", "dob": "Ngày/tháng/năm sinh",
           "national_id": "Số CCCD"}
    s = with_source(site(), kind="csv", path="inbox/x", column_map=own)
    headers = [own.get(k, v) for k, v in zip(
        ["source_key", "full_name", "dob", "sex", "national_id", "phone", "vaccine", "dose_number",
         "vaccination_date", "lot", "nationality", "passport_no"], HEADERS, strict=True)]
    import unicodedata
    headers[1] = unicodedata.normalize("NFD", headers[1]).lower()  # typed on another machine
    rows = [dict(zip(headers, r.values(), strict=True)) for r in GOOD]
    (env.data / "inbox/x").mkdir(parents=True)
    (env.data / "inbox/x/a.csv").write_text(_csv_text(rows, headers))
    summary = env.run(s)
    assert (summary.rows_new, summary.problems) == (2, [])
    rec = env.records()[0]
    assert (rec.source_key, rec.full_name, rec.national_id, rec.dob) == ("1", "Nguyễn Văn An", "001090000001",
                                                                         date(1990, 5, 12))


def test_site_config_rejects_unknown_keys_and_fields() -> None:
    base = site().to_dict()
    assert SiteConfig.from_dict(base) == site()
    for bad in ({**base, "colour": "red"}, {**base, "source": {**base["source"], "password": "x"}},
                {**base, "source": {**base["source"], "column_map": {"name": "Họ tên"}}},
                {**base, "source": {"kind": "sql", "path": "db.sqlite"}},
                {**base, "source": {"kind": "ftp", "path": "x"}}):
        with pytest.raises(ConfigError):
            SiteConfig.from_dict(bad)
    sql = {**base, "source": {"kind": "sql", "conn_id": "site_db", "options": {"table": "doses"},
                              "column_map": {"full_name": "ho_ten"}}}
    cfg = SiteConfig.from_dict(sql)
    assert cfg.source.conn_id == "site_db" and SiteConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.config_hash != site().config_hash


def test_xlsx_formula_cells_are_quarantined_whatever_their_kind(env: Env) -> None:
    """A plain, an array and a what-if table formula: each quarantines its row (an array formula used to come
    out as the object's repr, a text that changed on every run and so a new record version on every rerun)."""
    from openpyxl.worksheet.formula import ArrayFormula

    s = site()
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(HEADERS)
    good = ["1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001", "", "Pfizer", 2, "2021-08-15"]
    ws.append(good)
    ws.append(["2", "=HYPERLINK(\"http://x\")", *good[2:]])
    ws.append(["3", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002", "", "Vero Cell", 1, "2021-08-15"])
    ws["E4"] = ArrayFormula("E4", "=TRANSPOSE(A1:A1)")
    (env.data / s.source.path).mkdir(parents=True)
    book.save(env.data / s.source.path / "so_tiem.xlsx")
    summary = env.run(s)
    assert summary.problems == [f"site {s.code}, file so_tiem.xlsx, row {n}: formula_cell" for n in (3, 4)]
    assert [(r.source_key, r.status) for r in env.records()] == [("1", "new"), ("2", "quarantined"), ("3", "quarantined")]
