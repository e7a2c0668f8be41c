"""The Excel round trip: a district's open records as an .xlsx for offline work, and the edited file back in.

The sheet has one row per open record: its id and reason, the registry candidates, the decision columns
(`decision`: accept | correct | reject, `registry_id`, `reject_reason`, `note`) and the correctable fields with
their current values. A reviewer fills the decision of the rows they decided and, for `correct`, edits the
fields. The import is all or nothing: every row is checked (readable values, only this district's open records,
the same rules as the page's decisions) and one bad row refuses the whole file, naming each bad row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from vaxpass.errors import VaxpassError
from vaxpass.registry.adapter import PopulationRegistry
from vaxpass.review.actions import ACTIONS, REJECT_REASONS, RecordDecision, ReviewError, decide_records
from vaxpass.review.fields import FIELDS
from vaxpass.review.views import district_records, record_detail

SHEET = "Ho so"  # the sheet the import reads (ASCII: some spreadsheet tools mangle sheet names)
INFO = [("record_id", "Mã hồ sơ", "Record id"), ("site_code", "Điểm tiêm", "Site"),
        ("source_key", "Mã mũi tiêm", "Site row id"), ("reason", "Lý do", "Reason"),
        ("candidates", "Ứng viên trong CSDLQG", "Registry candidates"), ("pending", "Quyết định đang chờ", "Pending")]
DECISION = [("decision", "Quyết định (accept/correct/reject)", "Decision"),
            ("registry_id", "Mã ứng viên chấp nhận", "Accepted candidate id"),
            ("reject_reason", "Lý do từ chối", "Reject reason"), ("note", "Ghi chú", "Note")]
COLUMNS = [*INFO, *DECISION, *((f.name, f.label_vi, f.label_en) for f in FIELDS)]
FIRST_DATA_ROW = 3  # row 1: column keys (read by the import), row 2: labels


@dataclass(frozen=True)
class RowProblem:
    row: int | None  # the sheet row (None: the file as a whole)
    column: str
    rule: str
    reason_en: str
    reason_vi: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        return f"{where}, {self.column}: {self.rule} ({self.reason_en} / {self.reason_vi})"


class WorkbookError(VaxpassError):
    """The imported file was refused as a whole; `problems` names every bad row (no values)."""

    def __init__(self, district_code: str, problems: list[RowProblem]) -> None:
        self.district_code, self.problems = district_code, problems
        super().__init__(f"district {district_code}: import refused, nothing changed: "
                         + "; ".join(str(p) for p in problems))


def export_workbook(db_url: str, registry: PopulationRegistry, district_code: str) -> bytes:
    """The district's open records as an .xlsx (personal data: for the district's reviewers only)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    ws.append([key for key, _, _ in COLUMNS])
    ws.append([f"{vi} / {en}" for _, vi, en in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(color="808080", size=8)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    editable = PatternFill("solid", fgColor="FFF9C4")
    for rec in district_records(db_url, district_code):
        detail = record_detail(db_url, registry, district_code, rec["record_id"]) or {"candidates": []}
        candidates = "; ".join(f"{c['registry_id']}: {c['values']['full_name']}, {c['values']['dob']}, "
                               f"{c['values']['national_id']}" for c in detail["candidates"])
        pending = rec["pending"]
        ws.append([rec["record_id"], rec["site_code"], rec["source_key"], " / ".join(rec["reason_label"]),
                   candidates, f"{pending['action']} ({pending['actor']})" if pending else "",
                   None, None, None, None, *(rec["values"][f.name] for f in FIELDS)])
        for cell in ws[ws.max_row][len(INFO):]:
            cell.fill = editable
    last = max(ws.max_row, FIRST_DATA_ROW)
    for column, options in (("decision", ACTIONS), ("reject_reason", tuple(REJECT_REASONS))):
        letter = ws.cell(1, [k for k, _, _ in COLUMNS].index(column) + 1).column_letter
        dv = DataValidation(type="list", formula1='"' + ",".join(options) + '"', allow_blank=True)
        dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{last}")
        ws.add_data_validation(dv)
    ws.freeze_panes = "B3"
    help_sheet = wb.create_sheet("Huong dan")
    for line in (f"Quận/huyện / District: {district_code}",
                 "Điền cột decision: accept (kèm registry_id), correct (sửa các cột thông tin), reject (kèm "
                 "reject_reason: " + ", ".join(REJECT_REASONS) + ").",
                 "Fill `decision`: accept (with registry_id), correct (edit the field columns), reject (with "
                 "reject_reason). Leave it blank for records you do not decide. A bad row refuses the whole file."):
        help_sheet.append([line])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _text(value: Any) -> str | None:
    """A cell as text: dates as ISO, whole numbers without `.0` (Excel stores IDs and doses as floats)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def read_decisions(content: bytes) -> tuple[list[tuple[int, RecordDecision]], list[RowProblem]]:
    """(sheet row, decision) for every row with a decision, and the problems of unreadable rows."""
    try:
        wb = load_workbook(BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException … for a non-xlsx file
        return [], [RowProblem(None, "file", "not_xlsx", f"not an Excel .xlsx file ({type(exc).__name__})",
                               "không phải tệp Excel .xlsx")]
    if SHEET not in wb.sheetnames:
        return [], [RowProblem(None, "file", "no_sheet", f"no sheet named {SHEET!r}", f"không có trang {SHEET!r}")]
    rows = list(wb[SHEET].iter_rows(values_only=True))
    header = [_text(v) for v in rows[0]] if rows else []
    missing = [k for k, _, _ in COLUMNS if k not in header]
    if missing:
        return [], [RowProblem(None, ", ".join(missing), "missing_columns", "columns are missing",
                               "thiếu cột")]
    at = {k: header.index(k) for k, _, _ in COLUMNS}
    decisions: list[tuple[int, RecordDecision]] = []
    problems: list[RowProblem] = []
    for number, row in enumerate(rows[FIRST_DATA_ROW - 1:], start=FIRST_DATA_ROW):
        cell = {k: _text(row[i]) if i < len(row) else None for k, i in at.items()}
        action = (cell["decision"] or "").lower()
        if not action:
            continue
        record_id = cell["record_id"]
        if not (record_id and record_id.isdigit()):
            problems.append(RowProblem(number, "record_id", "bad_record_id", "not a record id", "mã hồ sơ sai"))
            continue
        if action not in ACTIONS:
            problems.append(RowProblem(number, "decision", "unknown_action", "one of " + ", ".join(ACTIONS),
                                       "thao tác không hợp lệ"))
            continue
        registry_id = cell["registry_id"]
        if action == "accept" and not (registry_id and registry_id.isdigit()):
            problems.append(RowProblem(number, "registry_id", "bad_registry_id", "accept needs a candidate id",
                                       "cần mã ứng viên"))
            continue
        decisions.append((number, RecordDecision(
            int(record_id), action, registry_id=int(registry_id) if action == "accept" and registry_id else None,
            fields={f.name: cell[f.name] for f in FIELDS} if action == "correct" else {},
            reason_code=cell["reject_reason"], note=cell["note"])))
    return decisions, problems


def import_workbook(db_url: str, content: bytes, *, district_code: str, actor: str, acted_at: datetime,
                    suite_dir: Path | None = None) -> int:
    """Apply an edited export as the actor's decisions (all or none); returns how many rows were decided.
    Raises `WorkbookError` naming every bad row."""
    decisions, problems = read_decisions(content)
    if not problems and not decisions:
        problems.append(RowProblem(None, "decision", "nothing_decided", "no row has a decision",
                                   "không có dòng nào có quyết định"))
    if problems:
        raise WorkbookError(district_code, problems)
    rows_of: dict[int, list[int]] = {}
    for number, d in decisions:
        rows_of.setdefault(d.record_id, []).append(number)
    try:
        decide_records(db_url, district_code=district_code, decisions=[d for _, d in decisions], actor=actor,
                       acted_at=acted_at, channel="xlsx", suite_dir=suite_dir)
    except ReviewError as err:
        raise WorkbookError(district_code, [
            RowProblem(row, p.field, p.rule, p.reason_en, p.reason_vi)
            for record_id, found in err.problems.items() for p in found
            for row in (rows_of.get(record_id, [None]) if record_id is not None else [None])]) from err
    return len(decisions)
