"""Turning a source row (Vietnamese headers → text) into the canonical fields of a dose record."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from vaxpass.domain import SEX_VALUES, SOURCE_HEADERS
from vaxpass.vaccines import lookup

_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def nfc(value: Any) -> str | None:
    """NFC text with outer spaces removed and inner runs collapsed; None for blank."""
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", str(value)).split())
    return text or None


def parse_date(text: str | None) -> date | None:
    """dd/mm/yyyy, d/m/yy (yy → 19yy when it would be in the future of 2030, else 20yy) or yyyy-mm-dd."""
    if not text:
        return None
    try:
        if m := _ISO.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY.match(text):
            year = int(m[3])
            if len(m[3]) == 2:
                year += 2000 if year <= 30 else 1900
            return date(year, int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def parse_int(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) if text.isdigit() else None


def normalise_row(raw: dict[str, str]) -> dict[str, Any]:
    """Canonical fields of one row; unparseable values become None (the raw text stays in the raw record)."""
    get = {field: nfc(raw.get(header)) for field, header in SOURCE_HEADERS.items()}
    national_id = get["national_id"].replace(" ", "").replace(".", "") if get["national_id"] else None
    vaccine = lookup(get["vaccine"]) if get["vaccine"] else None
    sex = SEX_VALUES.get(get["sex"].lower()) if get["sex"] else None
    return {
        "full_name": get["full_name"],
        "dob": parse_date(get["dob"]),
        "sex": sex,
        "national_id": national_id,
        "phone": get["phone"],
        "vaccine_raw": get["vaccine"],
        "vaccine_mp": vaccine.mp if vaccine else None,
        "dose_number": parse_int(get["dose_number"]),
        "vaccination_date": parse_date(get["vaccination_date"]),
        "lot": get["lot"],
        "nationality": (get["nationality"] or "VN").upper()[:2],
        "passport_no": get["passport_no"],
    }
