"""The fields of a dose record a district reviewer may correct, read from text as a form or a spreadsheet
gives them (bổ sung thông tin: supplementing missing information), and the record's values as text.

Parsing only makes a value typed; whether it is acceptable is for the quality rules to say
(`vaxpass.review.revalidate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from vaxpass.domain import SEX_VALUES
from vaxpass.extract.normalise import WIDTHS, nfc, parse_date
from vaxpass.extract.normalise import national_id as clean_national_id
from vaxpass.store.models import DoseRecord
from vaxpass.vaccines import lookup


@dataclass(frozen=True)
class Field:
    name: str  # the form and spreadsheet name
    label_vi: str
    label_en: str
    personal: bool  # identifies the person: never in lineage or logs


FIELDS = (
    Field("national_id", "Số CCCD/CMND", "National ID (CCCD/CMND)", True),
    Field("full_name", "Họ và tên", "Full name", True),
    Field("dob", "Ngày sinh", "Date of birth", True),
    Field("sex", "Giới tính", "Sex", True),
    Field("vaccine", "Tên vắc xin", "Vaccine", False),
    Field("lot", "Số lô", "Lot", False),
    Field("dose_number", "Mũi số", "Dose number", False),
    Field("vaccination_date", "Ngày tiêm", "Vaccination date", False),
)
BY_NAME = {f.name: f for f in FIELDS}
PERSONAL = frozenset(f.name for f in FIELDS if f.personal)


@dataclass(frozen=True)
class FieldProblem:
    """A value that could not be read, or a rule it breaks (`rule`: a quality rule code or a parse reason)."""

    field: str
    rule: str
    reason_en: str
    reason_vi: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def as_text(rec: DoseRecord) -> dict[str, str | None]:
    """The record's correctable values as text (dates ISO, the vaccine as the site typed it)."""
    def iso(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {"national_id": rec.national_id, "full_name": rec.full_name, "dob": iso(rec.dob), "sex": rec.sex,
            "vaccine": rec.vaccine_raw, "lot": rec.lot,
            "dose_number": str(rec.dose_number) if rec.dose_number is not None else None,
            "vaccination_date": iso(rec.vaccination_date)}


def parse_corrections(values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Text → the DoseRecord columns to set (`vaccine` sets `vaccine_raw` and `vaccine_mp`); unknown fields and
    unreadable values are problems. A blank value clears the field (the rules then say whether it may be)."""
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in values.items():
        if name not in BY_NAME:
            problems.append(FieldProblem(name, "unknown_field", "this field cannot be corrected",
                                         "trường này không sửa được"))
            continue
        text = nfc(raw)
        if name in ("dob", "vaccination_date"):
            day = parse_date(text) if text else None
            if text and day is None:
                problems.append(FieldProblem(name, "unparseable", "not a date (YYYY-MM-DD or DD/MM/YYYY)",
                                             "không phải ngày (YYYY-MM-DD hoặc DD/MM/YYYY)"))
            out[name] = day
        elif name == "dose_number":
            if text and not (text.isdigit() and len(text) < 3):
                problems.append(FieldProblem(name, "unparseable", "not a whole number", "không phải số nguyên"))
            out[name] = int(text) if text and text.isdigit() and len(text) < 3 else None
        elif name == "sex":
            sex = SEX_VALUES.get(text.lower()) if text else None
            if text and sex is None:
                problems.append(FieldProblem(name, "unparseable", "sex is M or F (Nam/Nữ)",
                                             "giới tính là M hoặc F (Nam/Nữ)"))
            out[name] = sex
        elif name == "vaccine":
            vaccine = lookup(text) if text else None
            if text and vaccine is None:
                problems.append(FieldProblem(name, "vaccine_unknown", "not a known vaccine product",
                                             "không phải tên vắc xin đã biết"))
            out["vaccine_raw"], out["vaccine_mp"] = text, vaccine.mp if vaccine else None
        elif name == "national_id":
            out[name] = clean_national_id(text)
        else:
            out[name] = text
        width = WIDTHS.get("vaccine_raw" if name == "vaccine" else name)
        if width and text and len(text) > width:
            problems.append(FieldProblem(name, "value_too_long", f"longer than {width} characters",
                                         f"dài quá {width} ký tự"))
    return out, problems
