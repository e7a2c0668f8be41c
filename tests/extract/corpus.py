"""The bad-input corpus, generated at test time into a site's inbox (nothing big is committed).

Each case is a file and what extraction must say about it: `file` — the file is landed and rejected with the
reason (and the row where reading stopped, when known); `row` — the file is taken, the row is kept quarantined
with the reason; `note` — the file is taken and the run report says why it is unusual.
"""

from __future__ import annotations

import io
import random
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.factories import HEADERS, dose_row, write_csv

GOOD = [dose_row("1", "Nguyễn Văn An", "12/05/1990", "Nam", "001090000001"),
        dose_row("2", "Trần Thị Đào", "07/03/1990", "Nữ", "001190000002")]
HUGE_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # file | row | note
    reason: str
    row: int | None = None


def _csv_text(rows: list[dict[str, str]], headers: list[str] = HEADERS) -> str:
    lines = [",".join(headers)] + [",".join(_quote(r.get(h, "")) for h in headers) for r in rows]
    return "\n".join(lines) + "\n"


def cp1258(text: str) -> bytes:
    """Text as Windows-1258 stores Vietnamese: base letters with circumflex, breve or horn precomposed, tone
    marks as separate combining characters."""
    out = []
    for ch in text:
        try:
            out.append(ch.encode("cp1258"))
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", ch)
            shape = [m for m in marks if m in "\u0302\u0306\u031b"]  # circumflex, breve, horn
            tones = [m for m in marks if m not in shape]
            head = unicodedata.normalize("NFC", base + "".join(shape))
            out.append(head.encode("cp1258") + "".join(tones).encode("cp1258"))
    return b"".join(out)


def _quote(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v


def _row(key: str, **kw: str) -> dict[str, str]:
    return {**dose_row(key, "Lê Hoàng Hòa", "30/11/1985", "Nam", "001085000003"), **kw}


def _xlsx(path: Path, rows: list[list[object]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    for r in rows:
        ws.append(r)
    book.save(path)


def build(inbox: Path) -> list[Case]:
    inbox.mkdir(parents=True, exist_ok=True)
    w = lambda name, data: (inbox / name).write_bytes(data if isinstance(data, bytes) else data.encode())  # noqa: E731
    text = _csv_text(GOOD)
    w("01_truncated.csv", text + "3,Lê Hoàng")
    write_csv(inbox / "02_missing_columns.csv", GOOD, headers=HEADERS[:3])
    w("03_wrong_columns.csv", "key,name,dob,vaccine,dose,date\n1,A,01/01/1990,Pfizer,1,01/08/2021\n")
    rnd = random.Random(4)
    w("04_garbage.csv", bytes(rnd.randrange(256) for _ in range(5000)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("holiday/photo.txt", "not a workbook")
    w("05_zip_of_something_else.xlsx", buf.getvalue())
    _xlsx(inbox / "06_formula.xlsx", [HEADERS, list(_row("61").values()),
                                      list(_row("62", **{HEADERS[1]: '=HYPERLINK("http://x.example","bấm")'}).values())])
    w("07_formula.csv", _csv_text([_row("71"), _row("72", **{HEADERS[6]: '=HYPERLINK("http://x","a")'})]))
    with (inbox / "08_huge.csv").open("wb") as fh:
        line = _csv_text([_row("8")]).split("\n", 1)[1].encode()
        fh.write(text.encode())
        fh.write(line * (HUGE_BYTES // len(line) + 1))
    w("09_twice_a.csv", _csv_text([_row("91")]))
    w("09_twice_b.csv", _csv_text([_row("91")]))
    mixed = _csv_text([_row("101"), _row("102")]).encode() + cp1258(_csv_text([_row("103")]).split("\n", 1)[1])
    w("10_mixed_encodings.csv", mixed)
    w("11_empty.csv", b"")
    w("12_header_only.csv", ",".join(HEADERS) + "\n")
    w("13_extra_columns.csv", _csv_text([{**_row("131"), "Ghi chú": "ok"}], [*HEADERS, "Ghi chú"]))
    w("14_embedded_newline.csv", _csv_text([_row("141"), _row("142", **{HEADERS[1]: "Lê Hoàng\nHòa"})]))
    w("15_duplicate_headers.csv", ",".join([*HEADERS, HEADERS[1]]) + "\n")
    w("16_long_cell.csv", _csv_text([_row("161", **{HEADERS[1]: "Nguyễn " * 60})]))
    w("17_not_a_zip.xlsx", "Họ và tên\tNgày sinh\n")
    w("18_scan.pdf", b"%PDF-1.4 ...")
    # a NUL past the first 4 KiB (where a binary file would show itself) is one bad row, not a binary file
    w("19_nul_inside.csv", _csv_text([_row(f"19{i:02d}") for i in range(50)] + [_row("1999", **{HEADERS[9]: "A\x00B"})]))
    w("20_no_key.csv", _csv_text([_row("201"), _row("")]))
    w("21_shifted_row.csv", _csv_text([_row("211")]) + "212,A,B,C,D,E,F,G,H,I,J,K,L,M\n")
    w("22_pdf_named_csv.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 binary")
    return [
        Case("01_truncated.csv", "row", "column_count", 4),
        Case("02_missing_columns.csv", "file", "missing-columns", 1),
        Case("03_wrong_columns.csv", "file", "missing-columns", 1),
        Case("04_garbage.csv", "file", "binary-file"),
        Case("05_zip_of_something_else.xlsx", "file", "bad-xlsx"),
        Case("06_formula.xlsx", "row", "formula_cell", 3),
        Case("07_formula.csv", "row", "formula_cell", 3),
        Case("08_huge.csv", "file", "file-too-large"),
        Case("09_twice_b.csv", "note", "duplicate-file"),
        Case("10_mixed_encodings.csv", "row", "mixed_encoding", 4),
        Case("11_empty.csv", "file", "empty-file", 1),
        Case("12_header_only.csv", "note", "no-rows"),
        Case("13_extra_columns.csv", "note", "extra-columns", 1),
        Case("14_embedded_newline.csv", "row", "embedded_newline", 3),
        Case("15_duplicate_headers.csv", "file", "duplicate-columns", 1),
        Case("16_long_cell.csv", "row", "value_too_long", 2),
        Case("17_not_a_zip.xlsx", "file", "bad-xlsx"),
        Case("18_scan.pdf", "file", "unsupported-file"),
        Case("19_nul_inside.csv", "row", "control_characters", 52),
        Case("20_no_key.csv", "row", "missing_source_key", 3),
        Case("21_shifted_row.csv", "row", "column_count", 3),
        Case("22_pdf_named_csv.csv", "file", "binary-file"),
    ]
