"""Folding Vietnamese text for comparison, shared by every stage that compares names.

One implementation, because the trap is easy to get wrong twice: Đ/đ has no Unicode decomposition, so
decomposing and dropping combining marks alone would keep it.
"""

from __future__ import annotations

import unicodedata


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0x00C0, 0x1F00):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base != ch and base.isascii():
            table[cp] = base
    table[ord("đ")], table[ord("Đ")] = "d", "D"  # Đ has no Unicode decomposition
    return table


_FOLD = _fold_table()


def fold_name(name: str) -> str:
    """Casefolded, diacritics dropped, Đ→D (it has no decomposition), spaces collapsed.

    Both tone placements (Hoà/Hòa) and NFD input fold to the same text.
    """
    return " ".join(unicodedata.normalize("NFC", name).casefold().translate(_FOLD).split())
