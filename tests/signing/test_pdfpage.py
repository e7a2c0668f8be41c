"""A font's column-at-a-time encoding and measuring: each text as `encode` and `width` make it alone."""

from __future__ import annotations

import unicodedata

import pytest

from vaxpass.confirmation.document import _layout

TEXTS = ["Nguyễn Văn An", unicodedata.normalize("NFD", "Trần Thị Đào"), "\u0301Lê", "ạ\u0301", "", "王 😀 \U000e0001",
         "Ａｂｃ", "\ud800", "tab\there", "0123456789abcdef"]


@pytest.mark.parametrize("texts", [TEXTS, TEXTS[4:5], ["only ascii", "0011"], [*TEXTS, "new\nline"], []])
def test_many_is_each_alone(texts: list[str]) -> None:
    font = _layout().regular
    assert font.encode_many(texts) == [font.encode(t) for t in texts]
    assert font.widths_many(texts, 8) == [font.width(t, 8) for t in texts]
