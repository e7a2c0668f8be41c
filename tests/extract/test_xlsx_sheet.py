"""The workbook reader gives the values openpyxl's read-only mode gives, cell for cell, on workbooks written by
openpyxl (both modes) and on sheet XML written by hand for the cases other producers write."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from vaxpass.extract.xlsx_sheet import Sheet, Workbook

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def openpyxl_rows(path: Path, sheet: str | None = None) -> Any:
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            ws = book[sheet] if sheet else book.worksheets[0]
            return [_plain(r) for r in ws.iter_rows(values_only=True)]
        finally:
            book.close()
    except Exception as exc:
        return type(exc).__name__


def our_rows(path: Path, sheet: str | None = None) -> Any:
    try:
        book = Workbook(path, sheet)
        try:
            return [_plain(r) for r in book.sheet().rows()]
        finally:
            book.close()
    except Exception as exc:
        return type(exc).__name__


def _plain(row: Any) -> tuple[Any, ...]:
    """Formula objects (array, data table) compared by their fields."""
    return tuple((type(v).__name__, vars(v)) if hasattr(v, "t") and hasattr(v, "ref") else v for v in row)


def _base(path: Path) -> None:
    """A workbook with a shared string, a date style (1) and a duration style (2), to swap parts into."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["x", datetime(2021, 8, 1, 12, 30), timedelta(hours=30)])
    book.save(path)


def _swap(path: Path, sheet: str, strings: str) -> Path:
    """The workbook at `path` with its first sheet's XML and a shared string table replaced."""
    out = path.with_name("swapped.xlsx")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            elif item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="'
                                    b'application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"'
                                    b"/></Types>")
            dst.writestr(item, data)
        dst.writestr("xl/sharedStrings.xml", strings)
    return out


def _sheet(body: str, head: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{MAIN}">{head}<sheetData>{body}</sheetData></worksheet>'


STRINGS = (f'<sst xmlns="{MAIN}" count="6" uniqueCount="6"><si><t>Nguyễn</t></si>'
           '<si><r><rPr><b/></rPr><t>Trần </t></r><r><t xml:space="preserve">Thị  Đào</t></r>'
           '<rPh sb="0" eb="1"><t>phonetic</t></rPh></si>'
           '<si><t xml:space="preserve">  spaced _x005F_x000D_ </t></si><si><t/></si><si/>'
           '<si><t>first</t><t>last</t></si></sst>')

SHEETS = {
    "values": _sheet(
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
        '<c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c><c r="F1" t="s"><v>5</v></c></row>'
        '<row r="2"><c r="A2"><v>42</v></c><c r="B2"><v>1.5</v></c><c r="C2"><v>1E3</v></c><c r="D2" s="1">'
        '<v>44423.5</v></c><c r="E2" s="2"><v>1.25</v></c><c r="F2" t="b"><v>1</v></c><c r="G2" t="e"><v>#N/A</v>'
        '</c><c r="H2" t="str"><v>cached</v></c><c r="I2" t="d"><v>2021-08-15T10:00:00</v></c><c r="J2"><v></v>'
        '</c><c r="K2" s="1"/><c r="L2" s="1"><v>99999999</v></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><t xml:space="preserve"> Lê  Hòa </t></is></c>'
        '<c r="B3" t="inlineStr"><is><r><t>a</t></r><r><t>b</t></r></is></c><c r="C3" t="inlineStr"><v>7</v></c>'
        '<c r="D3" t="inlineStr"/><c r="e3"><v>5</v></c></row>'),
    "formulas": _sheet(
        '<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="B1"><f t="shared" ref="B1:B3" si="0">A1*2</f><v>4</v>'
        '</c><c r="C1" t="str"><f>HYPERLINK("x")</f><v>x</v></c></row>'
        '<row r="2"><c r="A2"><v>3</v></c><c r="B2"><f t="shared" si="0"/><v>6</v></c>'
        '<c r="C2"><f t="array" ref="C2:C3">SUM(A1:A2)</f><v>5</v></c></row>'
        '<row r="3"><c r="B3"><f t="shared" si="0"/></c><c r="C3"><f t="dataTable" ref="C3" dt2D="1" r1="A1" '
        'r2="A2"/></c></row>'),
    "counting": _sheet(
        '<row><c r="A1"><v>1</v></c></row><row><c><v>2</v></c><c><v>3</v></c><c r="E2"><v>4</v></c><c><v>5</v>'
        '</c></row><row r="6"><c r="C6"><v>6</v></c><c r="A6"><v>7</v></c></row><row r="4"><c r="A4"><v>8</v>'
        '</c></row><row r="7.0"><c r="A7"><v>9</v></c></row><row r="9" spans="1:2" ht="20" customHeight="1">'
        '<c r="B9"><v>10</v></c></row><row r="10"/>'),
    "dimension_smaller": _sheet(
        '<row r="1"><c r="A1"><v>1</v></c><c r="C1"><v>3</v></c></row><row r="2"><c r="B2"><v>2</v></c></row>'
        '<row r="3"><c r="A3"><v>9</v></c></row>', head='<dimension ref="A1:B2"/>'),
    "dimension_larger": _sheet('<row r="2"><c r="A2"><v>1</v></c></row>', head='<dimension ref="A1:D5"/>'),
    "dimension_one_cell": _sheet('<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>2</v></c></row>',
                                 head='<dimension ref="A1"/>'),
    "dimension_bad": _sheet('<row r="1"><c r="A1"><v>1</v></c></row>', head='<dimension ref="nonsense"/>'),
    "prefixed": (f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData><x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c>'
                 '<x:c r="B1" t="inlineStr"><x:is><x:t>in</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>'),
    "no_namespace": '<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>',
    "entity": ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]>'
               + _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>&a;</t></is></c></row>').split("\n", 1)[1]),
    "bad_string_index": _sheet('<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>99</v></c></row>'),
    "bad_number": _sheet('<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>abc</v></c></row>'),
    "bad_coordinate": _sheet('<row r="1"><c r="1A"><v>1</v></c></row>'),
    "bad_absolute_coordinate": _sheet('<row r="1"><c r="A1"><v>1</v></c><c r="$B$1"><v>1</v></c></row>'),
    "bad_row_number": _sheet('<row r="1"><c r="A1"><v>1</v></c></row><row r="2.5"><c r="A2"><v>1</v></c></row>'),
    "bad_style": _sheet('<row r="1"><c r="A1" t="s" s="x"><v>0</v></c></row>'),
    "broken_xml": _sheet('<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>2</v></c></row><row'),
    "empty_first_rows": _sheet('<row r="3"><c r="B3"><v>1</v></c></row>'),
    "no_rows": _sheet(""),
}


@pytest.mark.parametrize("case", sorted(SHEETS))
def test_hand_written_sheets_read_as_openpyxl_reads_them(tmp_path: Path, case: str) -> None:
    _base(tmp_path / "base.xlsx")
    path = _swap(tmp_path / "base.xlsx", SHEETS[case], STRINGS)
    expected = openpyxl_rows(path)
    assert our_rows(path) == expected
    if case == "values":  # the cases exercise what they are named for
        assert isinstance(expected[1][3], datetime) and isinstance(expected[1][4], timedelta)
        assert expected[0][:3] == ("Nguyễn", "Trần Thị  Đào", "  spaced _x000D_ ")
    if case.startswith("bad") or case in ("entity", "broken_xml"):
        assert isinstance(expected, str)  # openpyxl refuses them, and so does the reader (same exception type)


def _streaming(path: Path, rows: list[list[Any]]) -> None:
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("Sổ tiêm")
    for r in rows:
        ws.append(r)
    book.save(path)


ROWS: list[list[Any]] = [
    ["Mã mũi tiêm", "Họ và tên", "Ngày sinh", None, "Số lô"],
    ["1", "Nguyễn Văn An", datetime(1990, 5, 12), 1090000001, 2.0],
    [None, None, None],
    ["3", "=HYPERLINK(\"x\")", "07/03/1990", True, "  Đào\n"],
    [],
    ["5", "x" * 300, 44423, -1.5e-7, None, "extra"],
]


@pytest.mark.parametrize("write_only", [False, True])
def test_workbooks_written_by_openpyxl(tmp_path: Path, write_only: bool) -> None:
    path = tmp_path / "book.xlsx"
    if write_only:  # inline strings and no <dimension>
        _streaming(path, ROWS)
    else:  # shared strings and a <dimension>
        book = openpyxl.Workbook()
        for r in ROWS:
            book.active.append(r)
        book.save(path)
    assert our_rows(path) == openpyxl_rows(path)
    assert len(openpyxl_rows(path)) >= 5


def test_sheets_by_name(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["first"])
    book.create_sheet("Sổ tiêm").append(["second", 2])
    book.save(path)
    for name in (None, "Sổ tiêm", "Sheet", "missing"):
        assert our_rows(path, name) == openpyxl_rows(path, name), name
    assert our_rows(path, "Sổ tiêm") == [("second", 2)]
    assert our_rows(path, "missing") == "KeyError"
    book.create_chartsheet("Biểu đồ")  # openpyxl's read-only mode cannot open a chart sheet without drawings
    book.save(path)
    for name in (None, "Biểu đồ"):
        assert our_rows(path, name) == openpyxl_rows(path, name), name


def test_1904_dates(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    book.active.append([datetime(2021, 8, 15)])
    book.save(path)
    assert our_rows(path) == openpyxl_rows(path) == [(datetime(2021, 8, 15),)]


def test_not_a_workbook(tmp_path: Path) -> None:
    for name, data in (("zip.xlsx", _zip_of_text()), ("text.xlsx", b"a,b\n1,2\n")):
        (tmp_path / name).write_bytes(data)
        assert our_rows(tmp_path / name) == openpyxl_rows(tmp_path / name)
        assert isinstance(our_rows(tmp_path / name), str)


def _zip_of_text() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    return buf.getvalue()


_SIMPLE = "".join(f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>k{i}</t></is></c><c r="B{i}"><v>{i}</v></c></row>'
                  for i in range(2, 40))
FAST_SHEETS = {
    **SHEETS,
    "text_as_parsed": _sheet(
        '<row r="1" spans="1:3">\r\n <c r="A1" t="inlineStr"> <is> <t xml:space="preserve">a&amp;b &lt;&#13;\r\nc\rd'
        '&#x1EA1;&quot;&apos;&gt;</t> </is> </c>\n<c r="B1" t="s" ><v>0</v></c><c r="C1" t="inlineStr"><is><t></t>'
        '</is></c><c r="D1" t="str"><v>&#32;</v></c><c r="E1" t="inlineStr"><v>1</v></c><c r="F1"><is><t>x</t>'
        '</is></c><c r="G1" s="0"><v> 7 </v></c><c r="H1" t="weird"><v>w</v></c></row>' + _SIMPLE),
    "odd_rows_midway": _sheet(
        _SIMPLE + '<row r="40"><c r="A40"><f>1+1</f><v>2</v></c></row><row r="41"><c r="A41"><v>3</v></c></row>'
        '<row r="42" xmlns="urn:other"><c r="A42"><v>4</v></c></row><row r="43"><c r="A43"><v>5</v></c></row>'
        '<row r="44"><c r="A44"><v>6</v></c><!-- a comment --></row>'),
    "row_after_sheet_data": _sheet(_SIMPLE).replace("</sheetData>", f'</sheetData><row xmlns="{MAIN}" r="50">'
                                                    '<c r="A50"><v>1</v></c></row>'),
    "broken_midway": _sheet(_SIMPLE + '<row r="40"><c r="A40"><v>1</v></c></row><row r="41"><c r="A41"><v>&nope;'
                                      '</v></c></row>' + _SIMPLE.replace('r="', 'r="9')),
    "row_breaks_after_sheet_data": _sheet(_SIMPLE).replace("</sheetData>", '</sheetData><rowBreaks count="1" '
                                                           'manualBreakCount="1"><brk id="5" max="16383" man="1"/>'
                                                           '</rowBreaks>'),
    "prefixed_row_after_sheet_data": _sheet(_SIMPLE).replace("</sheetData>", f'</sheetData><x:row xmlns:x="{MAIN}" '
                                                             'r="50"><x:c r="A50"><x:v>1</x:v></x:c></x:row>'),
    "other_namespace_first": (f'<worksheet xmlns="urn:other" xmlns:x="{MAIN}"><sheetData><row r="1"><c r="A1"><v>1</v>'
                              f'</c></row></sheetData><x:sheetData>{_SIMPLE.replace("<", "<x:").replace("<x:/", "</x:")}'
                              '</x:sheetData></worksheet>'),
    "broken_after_sheet_data": _sheet(_SIMPLE).replace("</worksheet>", "</worksheet"),
    "latin1": _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>\u00e9\u00e0o</t></is></c></row>' + _SIMPLE).replace(
        'encoding="UTF-8"', 'encoding="ISO-8859-1"'),
    "comment_before": _sheet('<row r="1"><c r="A1"><v>1</v></c></row>' + _SIMPLE,
                             head="<!-- <sheetData><row r=\"9\"/></sheetData> -->"),
}


@pytest.mark.parametrize("block", [16, 333, 1 << 16])
@pytest.mark.parametrize("case", sorted(FAST_SHEETS))
def test_sheets_read_in_small_blocks_as_openpyxl_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            case: str, block: int) -> None:
    """Small blocks leave most rows to the regular-expression reader (the opening read builds only those in
    its first block), across block boundaries, and hand over to the element builder at odd rows."""
    monkeypatch.setattr("vaxpass.extract.xlsx_sheet._READ", block)
    _base(tmp_path / "base.xlsx")
    sheet = FAST_SHEETS[case]
    path = _swap(tmp_path / "base.xlsx", sheet, STRINGS)
    if case == "latin1":  # the sheet's bytes in the encoding it declares
        latin = tmp_path / "latin1.xlsx"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(latin, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                dst.writestr(item, sheet.encode("latin-1") if item.filename == "xl/worksheets/sheet1.xml" else data)
        path = latin
    built: list[int] = []
    parse_row = Sheet._parse_row
    monkeypatch.setattr(Sheet, "_parse_row", lambda self, node: built.append(1) or parse_row(self, node))
    assert our_rows(path) == openpyxl_rows(path)
    if block == 16 and case in ("text_as_parsed", "row_breaks_after_sheet_data"):  # all by regular expressions
        assert not built
    if block == 16 and case == "odd_rows_midway":  # the builder from the formula row on (row 42 is no row)
        assert len(built) == 4
