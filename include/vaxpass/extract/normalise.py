"""Turning source rows (canonical Vietnamese headers → text) into the canonical fields of dose records.

`normalise_columns` does a whole chunk column by column: each column's distinct values are parsed once (dates,
sexes, vaccine names and dose numbers repeat a lot), which is what makes extraction keep pace with a bulk
reader. `normalise_row` is the same for one row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from operator import itemgetter
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


def _text(value: str | None) -> str | None:
    # NUL has no place in a canonical field (and PostgreSQL text cannot hold it); the raw record keeps it.
    if not value:
        return None
    text = " ".join(_normalize("NFC", value).split())
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text or None


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


def _sex(text: str | None) -> str | None:
    return SEX_VALUES.get(text.lower()) if text else None


def _phone(text: str | None) -> str | None:
    if text and text.isdigit() and len(text) == 9:
        return "0" + text  # a spreadsheet number cell drops the leading 0
    return text


def _nationality(text: str | None) -> str:
    return (text or "VN").upper()[:2]


def _vaccine(text: str | None) -> str | None:
    return _vaccine_mp(text) if text else None


def _repeats(values: list[Any], sample: int = 256) -> bool:
    """Whether a column's values repeat enough to compute once per distinct value, judged on its first
    `sample` values (either way gives the same result; this only saves deduplicating unique columns)."""
    head = values[:sample]
    return len(set(head)) * 2 <= len(head)


def _each(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """`fn` over `values`, computed once per distinct value when values repeat."""
    if not _repeats(values):
        return [fn(v) for v in values]
    distinct = dict.fromkeys(values)
    for v in distinct:
        distinct[v] = fn(v)
    return [distinct[v] for v in values]


# canonical field -> (the source field it is read from, how)
_DERIVED: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "full_name": ("full_name", None), "dob": ("dob", parse_date), "sex": ("sex", _sex),
    "national_id": ("national_id", national_id), "phone": ("phone", _phone), "vaccine_raw": ("vaccine", None),
    "vaccine_mp": ("vaccine", _vaccine), "dose_number": ("dose_number", parse_int),
    "vaccination_date": ("vaccination_date", parse_date), "lot": ("lot", None),
    "nationality": ("nationality", _nationality), "passport_no": ("passport_no", None),
}


def _texts(values: list[str | None]) -> list[str | None]:
    """`_text` of a column (inlined: the per-value call would cost as much as the work), once per distinct
    value when values repeat."""
    if _repeats(values):
        distinct = dict.fromkeys(values)
        done = dict(zip(distinct, _texts(list(distinct)), strict=True))
        return [done[v] for v in values]
    # ASCII letters and digits only (IDs, phones, keys): already NFC, no spaces
    out = [(v if v.isascii() and v.isalnum() else (" ".join(_normalize("NFC", v).split()) or None)) if v else None
           for v in values]
    if "\x00" in "".join(filter(None, out)):
        out = [_text(v) for v in out]
    return out


def _transpose(raws: Sequence[Mapping[str, str]]) -> dict[str, list[str | None]]:
    """The canonical headers' columns of the rows (None where a row lacks one); the rows of a chunk share
    their columns, so those of the first row are taken together, one C call a row."""
    present = [(f, h) for f, h in _HEADERS if raws and h in raws[0]]
    columns: dict[str, list[str | None]] = {}
    if len(present) > 1:
        try:
            values = zip(*map(itemgetter(*[h for _, h in present]), raws), strict=True)
            columns = {f: list(column) for (f, _), column in zip(present, values, strict=True)}
        except KeyError:  # a row without one of them
            columns = {}
    return {f: columns[f] if f in columns else [r.get(h) for r in raws] for f, h in _HEADERS}


def normalise_columns(raws: Sequence[Mapping[str, str]]) -> dict[str, list[Any]]:
    """Canonical fields of many rows, column by column (each list in the rows' order); unparseable values
    become None (the raw text stays in the raw record)."""
    texts = {field: _texts(column) for field, column in _transpose(raws).items()}
    return {name: texts[src] if fn is None else _each(fn, texts[src]) for name, (src, fn) in _DERIVED.items()}


def overflowing(columns: dict[str, list[Any]]) -> set[int]:
    """Cut values longer than their column in place; the positions of the rows where one was cut."""
    cut: set[int] = set()
    for name, width in WIDTHS.items():
        values = columns[name]
        if max(map(len, filter(None, values)), default=0) <= width:
            continue
        for i, value in enumerate(values):
            if value is not None and len(value) > width:
                values[i] = value[:width]
                cut.add(i)
    return cut


def normalise_row(raw: Mapping[str, str]) -> dict[str, Any]:
    """Canonical fields of one row (see `normalise_columns`)."""
    return {name: values[0] for name, values in normalise_columns([raw]).items()}


def cut_overflow(record: dict[str, Any]) -> bool:
    """Cut values longer than their column in place; True when one was cut (the row is then quarantined)."""
    cut = False
    for name, width in WIDTHS.items():
        value = record.get(name)
        if value is not None and len(value) > width:
            record[name] = value[:width]
            cut = True
    return cut
