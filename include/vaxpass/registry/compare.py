"""Field comparisons behind a match decision: the evidence a reviewer reads."""

from __future__ import annotations

import unicodedata
from datetime import date


def fold_name(name: str) -> str:
    """Casefolded, diacritics dropped, Đ→D (it has no decomposition), spaces collapsed.

    Both tone placements (Hoà/Hòa) and NFD input fold to the same text.
    """
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", name).casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("đ", "d")
    return " ".join(stripped.split())


def compare_name(record: str | None, registry: str) -> str:
    if not record:
        return "missing"
    if unicodedata.normalize("NFC", record) == registry:
        return "exact"
    return "folded" if fold_name(record) == fold_name(registry) else "disagree"


def compare_dob(record: date | None, registry: date) -> str:
    if record is None:
        return "missing"
    if record == registry:
        return "exact"
    if record.year == registry.year and record.day == registry.month and record.month == registry.day:
        return "day_month_swapped"
    return "disagree"


def compare_sex(record: str | None, registry: str) -> str:
    if record is None:
        return "missing"
    return "exact" if record == registry else "disagree"


AGREE = {"exact", "folded"}
