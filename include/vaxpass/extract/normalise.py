"""Turning a source row (canonical Vietnamese headers → text) into the canonical fields of a dose record."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from vaxpass.domain import SEX_VALUES, SOURCE_HEADERS
from vaxpass.vaccines import lookup

_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
_SERIAL = re.compile(r"^\s*(\d{5})(?:\.0+)?\s*$")
# Excel's day 0 (its 1900 date system counts the non-existent 29 Feb 1900, hence 30 Dec 1899).
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_RANGE = (date(1900, 3, 1), date(2099, 12, 31))
# Column widths of the ops store: a longer value is cut and its row quarantined (`value_too_long`).
WIDTHS = {"full_name": 200, "national_id": 32, "phone": 32, "vaccine_raw": 100, "vaccine_mp": 64, "lot": 64,
          "passport_no": 32}
SOURCE_KEY_WIDTH = 200
_HEADERS = tuple(SOURCE_HEADERS.items())
_normalize = unicodedata.normalize


def nfc(value: Any) -> str | None:
    """NFC text with outer spaces removed and inner runs collapsed; None for blank."""
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", str(value)).split())
    return text or None


@lru_cache(maxsize=65536)
def parse_date(text: str | None) -> date | None:
    """dd/mm/yyyy, d/m/yy (yy → 20yy up to 30, else 19yy), yyyy-mm-dd (also an ISO date-time: its date) or an
    Excel serial day number (a date cell exported as a number)."""
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
        if m := _SERIAL.match(text):
            day = _EXCEL_EPOCH + timedelta(days=int(m[1]))
            return day if _SERIAL_RANGE[0] <= day <= _SERIAL_RANGE[1] else None
    except ValueError:
        return None
    return None


def parse_int(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 9 else None


def national_id(text: str | None) -> str | None:
    """Spaces and dots removed; a number that lost its leading zeros in a spreadsheet gets them back (a CCCD has
    12 digits, an old CMND 9)."""
    if not text:
        return None
    value = text.replace(" ", "").replace(".", "")
    if value.isdigit() and len(value) in (10, 11):
        return value.zfill(12)
    if value.isdigit() and len(value) == 8:
        return value.zfill(9)
    return value


@lru_cache(maxsize=4096)
def _vaccine_mp(name: str) -> str | None:
    vaccine = lookup(name)
    return vaccine.mp if vaccine else None


def normalise_row(raw: dict[str, str]) -> dict[str, Any]:
    """Canonical fields of one row; unparseable values become None (the raw text stays in the raw record)."""
    get = {field: (" ".join(_normalize("NFC", v).split()) or None) if (v := raw.get(header)) else None
           for field, header in _HEADERS}
    sex = SEX_VALUES.get(get["sex"].lower()) if get["sex"] else None
    phone = get["phone"]
    if phone and phone.isdigit() and len(phone) == 9:
        phone = "0" + phone  # a spreadsheet number cell drops the leading 0
    return {
        "full_name": get["full_name"],
        "dob": parse_date(get["dob"]),
        "sex": sex,
        "national_id": national_id(get["national_id"]),
        "phone": phone,
        "vaccine_raw": get["vaccine"],
        "vaccine_mp": _vaccine_mp(get["vaccine"]) if get["vaccine"] else None,
        "dose_number": parse_int(get["dose_number"]),
        "vaccination_date": parse_date(get["vaccination_date"]),
        "lot": get["lot"],
        "nationality": (get["nationality"] or "VN").upper()[:2],
        "passport_no": get["passport_no"],
    }


def cut_overflow(record: dict[str, Any]) -> bool:
    """Cut values longer than their column in place; True when one was cut (the row is then quarantined)."""
    cut = False
    for name, width in WIDTHS.items():
        value = record.get(name)
        if value is not None and len(value) > width:
            record[name] = value[:width]
            cut = True
    return cut
