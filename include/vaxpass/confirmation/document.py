"""The confirmation list as a PDF ("Danh sách xác nhận tiêm chủng"), bilingual, Vietnamese glyphs embedded.

Each row carries the first hex digits of its record's Merkle leaf hash, and the footer the Merkle root and
the number of leaves, so a printed page can be tied back to the signed root and each record's inclusion proof.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from importlib import resources
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

from pypdf import PdfReader

from vaxpass.signing.merkle import leaf_hash
from vaxpass.signing.pdfpage import MM, EmbeddedFont, PdfTemplate, pdf_stream, pdf_text_string

FONTS = resources.files("vaxpass.signing").joinpath("fonts")


# what json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":")) builds on every call
_LEAF_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ConfirmedDose:
    """One dose as the site confirms it: who, what, when — the content its Merkle leaf commits to."""

    record_id: int
    source_key: str
    full_name: str
    dob: str
    national_id: str
    vaccine: str
    dose_number: int
    vaccination_date: str
    lot: str
    content_hash: str

    def leaf(self) -> bytes:
        """Canonical bytes of the record (sorted-key JSON): what the Merkle leaf hashes."""
        return _LEAF_JSON.encode(self.__dict__).encode()


_FIELDS = tuple(f.name for f in fields(ConfirmedDose))
_FIELDS_SORTED = sorted(_FIELDS)
# a leaf's text around its values: the keys in the order and form `_LEAF_JSON` writes them, then a newline
# (never in a leaf: JSON escapes it) to split the leaves of a list on
_LEAF_TEXT = ["{" + encode_basestring(_FIELDS_SORTED[0]) + ":",
              *("," + encode_basestring(name) + ":" for name in _FIELDS_SORTED[1:]), "}\n"]


def _json_values(column: Sequence[Any]) -> list[str]:
    """Each value's JSON text as `_LEAF_JSON` writes it inside a leaf: strings through the very escaper its C
    encoder calls (`ensure_ascii=False`), plain ints as its `int.__repr__`, anything else through the encoder."""
    kinds = set(map(type, column))
    if kinds <= {str}:
        return list(map(encode_basestring, column))
    if kinds <= {int}:
        return list(map(int.__repr__, column))
    return list(map(_LEAF_JSON.encode, column))


@dataclass(frozen=True)
class DoseColumns:
    """A list's doses column by column, in list order: the confirm stage reads a site's doses, writes their
    leaves and lays out their rows a column at a time, where an object, a JSON encoding and eight cell layouts
    per dose were two thirds of the stage. `columns[i]` is the i-th `ConfirmedDose`."""

    record_id: Sequence[int]
    source_key: Sequence[str]
    full_name: Sequence[str]
    dob: Sequence[str]
    national_id: Sequence[str]
    vaccine: Sequence[str]
    dose_number: Sequence[int]
    vaccination_date: Sequence[str]
    lot: Sequence[str]
    content_hash: Sequence[str]

    @classmethod
    def of(cls, doses: Sequence[ConfirmedDose]) -> DoseColumns:
        return cls(*([getattr(d, name) for d in doses] for name in _FIELDS))

    def __len__(self) -> int:
        return len(self.record_id)

    def __getitem__(self, index: int) -> ConfirmedDose:
        return ConfirmedDose(*(getattr(self, name)[index] for name in _FIELDS))

    def leaves(self) -> list[bytes]:
        """Every dose's `ConfirmedDose.leaf()`, with no Python step per dose: each column's values encoded in one
        pass, laid with the keys into one list by slices, joined, encoded and split once."""
        count, step = len(self), len(_LEAF_TEXT) + len(_FIELDS_SORTED)
        parts: list[str] = [""] * (step * count)
        for k, text in enumerate(_LEAF_TEXT):
            parts[2 * k::step] = [text] * count
        for k, name in enumerate(_FIELDS_SORTED):
            parts[2 * k + 1::step] = _json_values(getattr(self, name))
        return "".join(parts).encode().split(b"\n")[:count]


@dataclass(frozen=True)
class ConfirmationHeader:
    site_code: str
    site_name: str
    district_name: str
    head_of_facility: str
    cycle_id: str
    run_date: date


_COLUMNS = (("#", 10), ("Họ và tên / Name", 55), ("Ngày sinh / DOB", 28), ("CCCD / ID", 30),
            ("Vắc xin / Vaccine", 32), ("Mũi / Dose", 17), ("Ngày tiêm / Date", 30), ("Lá Merkle / Leaf", 0))


# zlib level of the page contents: pdf_stream's level 6 cost 10 µs per row, a sixth of the confirm stage, for
# 12 % fewer bytes than level 3 (about 90 bytes a row)
_DEFLATE = 3
_REPEATING = {2, 4, 5, 6}  # columns whose values repeat down a list: birth date, vaccine, dose, vaccination date
_ROOT_KEY, _LEAVES_KEY = "merkle-root:", "merkle-leaves:"


def root_of(pdf: bytes) -> tuple[bytes, int]:
    """The Merkle root and leaf count a confirmation PDF states (read from its metadata; check the signature
    first with `vaxpass.signing.pades.validate_pdf`)."""
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    keywords = str(metadata.get("/Keywords", "")) if metadata is not None else ""
    words = dict(w.split(":", 1) for w in keywords.split() if ":" in w)
    try:
        return bytes.fromhex(words[_ROOT_KEY[:-1]]), int(words[_LEAVES_KEY[:-1]])
    except (KeyError, ValueError):
        raise ValueError("not a vaxpass confirmation: no Merkle root in its metadata") from None


# A4 landscape in mm, laid out as fpdf2 did: 10 mm margins, a page break 15 mm above the bottom edge
_WIDTH, _HEIGHT, _MARGIN, _BREAK, _CELL_MARGIN = 297.0, 210.0, 10.0, 15.0, 1.0
_ROW, _HEAD_ROW = 5.0, 6.0
_TAIL = b" Td %s Tj ET\n"  # a cell's text operators after its baseline, unless squeezed
# object numbers: the catalog and the two fonts are shared by every list; the page tree, the info and one
# page plus its content per page are each list's own
_CATALOG, _REGULAR, _BOLD, _PAGES, _INFO, _FIRST_PAGE = 1, 2, 7, 12, 13, 14


class _Layout:
    """What every list shares, built once per process: the fonts (subset once to their whole Vietnamese and
    Latin repertoire, as `signing.pdfpage` does for certificates), the column grid and the column titles."""

    def __init__(self) -> None:
        self.regular = EmbeddedFont(str(FONTS.joinpath("DejaVuSans-vi.ttf")), "VXPDFA+DejaVuSans")
        self.bold = EmbeddedFont(str(FONTS.joinpath("DejaVuSans-Bold-vi.ttf")), "VXPDFB+DejaVuSans-Bold")
        fixed = sum(w for _, w in _COLUMNS)
        widths = [w or _WIDTH - 2 * _MARGIN - fixed for _, w in _COLUMNS]
        self.lefts = [_MARGIN + sum(widths[:i]) for i in range(len(widths))]
        self.widths = widths
        self.right = _MARGIN + sum(widths)
        self.xs = [b"%.2f" % ((left + _CELL_MARGIN) * MM) for left in self.lefts]
        squeeze = {1, 3, 4}  # name, ID, vaccine: the only cells that can be wider than their column
        self.rooms = [(w - 2 * _CELL_MARGIN) * MM if c in squeeze else None for c, w in enumerate(widths)]
        self._heads: dict[tuple[float, int], bytes] = {}
        self._baselines: dict[tuple[float, int], list[bytes]] = {}
        self._numbers: list[bytes] = []  # what follows the baseline in the "#" cells 1, 2, 3... of every list
        self.template = PdfTemplate({_CATALOG: b"<</Type /Catalog /Pages %d 0 R>>" % _PAGES,
                                     **self.regular.objects(_REGULAR), **self.bold.objects(_BOLD)},
                                    None, root=_CATALOG, info=_INFO)

    def text(self, font: EmbeddedFont, tag: bytes, size: float, text: str, left: float, top: float, h: float,
             *, room: float | None = None, center: bool = False) -> bytes:
        """One line of text as fpdf2's cell places it (baseline at top + h/2 + 0.3 font size, in mm from the
        top); squeezed horizontally when wider than `room` (points), so nothing overprints the next cell."""
        baseline = (_HEIGHT - (top + h / 2 + 0.3 * size / MM)) * MM
        x = (_WIDTH * MM - font.width(text, size)) / 2 if center else left * MM
        head, tail = self.cell(font, tag, size, text, b"%.2f" % x, None if center else room)
        return head + b"%.2f" % baseline + tail

    @staticmethod
    def cell(font: EmbeddedFont, tag: bytes, size: float, text: str, x: bytes,
             room: float | None) -> tuple[bytes, bytes]:
        """A line's text operators before and after its baseline, so a table row can put the row's baseline
        between them; the scale is graphics state: set back after the text."""
        code = font.encode(text)
        if room is not None:
            width = font.width(text, size)
            if width > room:
                return (b"BT /%s %.2f Tf %.1f Tz %s " % (tag, size, 100 * room / width, x),
                        b" Td %s Tj 100 Tz ET\n" % code)
        return b"BT /%s %.2f Tf %s " % (tag, size, x), _TAIL % code

    def table_head(self, top: float, rows: int) -> bytes:
        """The grid and the title row of a table at `top` of `rows` rows: the same on every full page."""
        key = (top, rows)
        if key not in self._heads:
            self._heads[key] = self.grid(top, rows) + self.header_row(top)
        return self._heads[key]

    def header_row(self, top: float) -> bytes:
        return b"".join(self.text(self.bold, b"F2", 8, title, left + _CELL_MARGIN, top, _HEAD_ROW,
                                  room=(width - 2 * _CELL_MARGIN) * MM)
                        for (title, _), left, width in zip(_COLUMNS, self.lefts, self.widths, strict=True))

    def grid(self, top: float, rows: int) -> bytes:
        """The table's rules: the title row, then `rows` rows, every cell boxed."""
        bottom = top + _HEAD_ROW + rows * _ROW
        ys = [top, *(top + _HEAD_ROW + i * _ROW for i in range(rows + 1))]
        lines = [b"%.2f %.2f m %.2f %.2f l" % (_MARGIN * MM, (_HEIGHT - y) * MM, self.right * MM, (_HEIGHT - y) * MM)
                 for y in ys]
        lines += [b"%.2f %.2f m %.2f %.2f l" % (x * MM, (_HEIGHT - top) * MM, x * MM, (_HEIGHT - bottom) * MM)
                  for x in (*self.lefts, self.right)]
        return b"%.3f w\n" % (0.2 * MM) + b"\n".join(lines) + b" S\n"

    def body(self, columns: Sequence[Sequence[str]]) -> list[tuple[Sequence[bytes], Sequence[bytes]]]:
        """A table body's cells, a column at a time: per column, every row's text operators before and after the
        row's baseline (which depends on the page the row lands on). `columns` are the texts of all columns but
        the first, which numbers the rows (laid out once per process). Only the name, ID and vaccine cells can be
        wider than their column. A column whose values repeat (dates, vaccines, dose numbers) lays out each of
        its distinct values once; the others are encoded, and measured, in one pass each."""
        count = len(columns[0])
        if count > len(self._numbers):
            self._numbers += self._column([str(i) for i in range(len(self._numbers) + 1, count + 1)],
                                          self.xs[0], self.rooms[0])[1]
        cells: list[tuple[Sequence[bytes], Sequence[bytes]]] = [([self._plain(self.xs[0])] * count,
                                                                 self._numbers[:count])]
        for c, texts in enumerate(columns, start=1):
            x, room = self.xs[c], self.rooms[c]
            if c not in _REPEATING:
                cells.append(self._column(texts, x, room))
                continue
            distinct = list(set(texts))
            known = dict(zip(distinct, zip(*self._column(distinct, x, room), strict=True), strict=True))
            if room is None:  # never squeezed: every cell of the column starts alike
                cells.append(([self._plain(x)] * len(texts), list(map(itemgetter(1), map(known.__getitem__, texts)))))
            else:
                pairs = list(map(known.__getitem__, texts))
                cells.append((list(map(itemgetter(0), pairs)), list(map(itemgetter(1), pairs))))
        return cells

    def _plain(self, x: bytes) -> bytes:
        """What starts a regular 8 pt cell at `x` that is not squeezed."""
        return self.cell(self.regular, b"F1", 8, "", x, None)[0]

    def _column(self, texts: Sequence[str], x: bytes, room: float | None) -> tuple[list[bytes], list[bytes]]:
        """`cell` of every text of a column: the texts encoded (and measured, when `room` can squeeze them)
        together; the few too wide for the column laid out one by one."""
        regular = self.regular
        heads = [self._plain(x)] * len(texts)
        tails = [_TAIL % code for code in regular.encode_many(texts)]
        if room is not None:
            for i, width in enumerate(regular.widths_many(texts, 8)):
                if width > room:
                    heads[i], tails[i] = self.cell(regular, b"F1", 8, texts[i], x, room)
        return heads, tails

    def rows(self, top: float, cells: Sequence[tuple[Sequence[bytes], Sequence[bytes]]], start: int, stop: int
             ) -> bytes:
        """Rows `start` to `stop` of a body (from `body`) from `top` (mm): each cell's operators around its row's
        baseline, laid into one list by slices (no bytes built per cell) and joined once."""
        key = (top, stop - start)
        if key not in self._baselines:
            self._baselines[key] = [b"%.2f" % ((_HEIGHT - (y + _ROW / 2 + 0.3 * 8 / MM)) * MM)
                                    for y in (top + r * _ROW for r in range(key[1]))]
        baselines = self._baselines[key]
        step = 3 * len(cells)
        out = [b""] * (step * len(baselines))
        for c, (heads, tails) in enumerate(cells):
            out[3 * c::step] = heads[start:stop]
            out[3 * c + 1::step] = baselines
            out[3 * c + 2::step] = tails[start:stop]
        return b"".join(out)


@functools.cache
def _layout() -> _Layout:
    return _Layout()


def render_confirmation(header: ConfirmationHeader, doses: Sequence[ConfirmedDose] | DoseColumns,
                        merkle_root: bytes, leaf_hashes: Sequence[bytes] | None = None) -> bytes:
    """The unsigned PDF; `merkle_root` is the RFC 9162 root over `[d.leaf() for d in doses]` in this order
    (`leaf_hashes`, when given, are that tree's leaf hashes, so they need not be computed again).

    Written directly, not through fpdf2: a list has tens of thousands of cells, and fpdf2's per-cell layout
    was three quarters of the confirm stage. Each row is a few text operators; the rules are drawn once per
    page; the fonts are the same objects in every list."""
    layout = _layout()
    columns = doses if isinstance(doses, DoseColumns) else DoseColumns.of(doses)
    if leaf_hashes is None:
        leaf_hashes = list(map(leaf_hash, columns.leaves()))
    if len(leaf_hashes) != len(columns):
        raise ValueError("one leaf hash per dose")
    body = layout.body([columns.full_name, columns.dob, columns.national_id, columns.vaccine,
                        list(map(str, columns.dose_number)), columns.vaccination_date,
                        [leaf[:8].hex() for leaf in leaf_hashes]])
    intro = [b"/DeviceGray cs 0 g\n",
             layout.text(layout.bold, b"F2", 14, "DANH SÁCH XÁC NHẬN TIÊM CHỦNG / VACCINATION CONFIRMATION LIST",
                         _MARGIN, _MARGIN, 8, center=True)]
    top = _MARGIN + 8
    for line in (f"Cơ sở tiêm chủng / Site: {header.site_name} ({header.site_code}), {header.district_name}",
                 f"Thủ trưởng cơ sở / Head of facility: {header.head_of_facility}",
                 f"Chu kỳ / Cycle: {header.cycle_id} — {header.run_date:%d/%m/%Y} — {len(doses)} mũi tiêm / doses"):
        intro.append(layout.text(layout.regular, b"F1", 10, line, _MARGIN, top, 6))
        top += 6
    top += 2
    bottom = _HEIGHT - _BREAK
    footer = [(layout.bold, b"F2", f"Gốc Merkle / Merkle root (RFC 9162, SHA-256, {len(doses)} leaves):"),
              (layout.bold, b"F2", merkle_root.hex()),
              (layout.regular, b"F1", "Thủ trưởng cơ sở ký số xác nhận danh sách trên / The head of facility "
                                      "digitally signs this list (PAdES).")]
    pages: list[bytes] = []
    content = intro
    start = 0
    while True:
        fit = max(0, int((bottom - top - _HEAD_ROW) // _ROW))
        rows = min(fit, len(columns) - start)
        if rows > 0:
            content += [layout.table_head(top, rows),
                        layout.rows(top + _HEAD_ROW, body, start, start + rows)]
            top += _HEAD_ROW + rows * _ROW
            start += rows
        if start >= len(columns):
            if top + 3 + 5 * len(footer) > bottom:  # the footer on a page of its own
                pages.append(b"".join(content))
                content, top = [b"/DeviceGray cs 0 g\n"], _MARGIN
            else:
                top += 3
            for font, tag, text in footer:
                content.append(layout.text(font, tag, 9, text, _MARGIN, top, 5))
                top += 5
            pages.append(b"".join(content))
            break
        pages.append(b"".join(content))
        content, top = [b"/DeviceGray cs 0 g\n"], _MARGIN
    return _document(layout, header, len(doses), merkle_root, pages)


def _document(layout: _Layout, header: ConfirmationHeader, leaves: int, merkle_root: bytes,
              pages: Sequence[bytes]) -> bytes:
    numbers = [_FIRST_PAGE + 2 * i for i in range(len(pages))]
    total = len(pages)
    own = {
        _PAGES: b"<</Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 %.2f %.2f]>>"
                % (b" ".join(b"%d 0 R" % n for n in numbers), total, _WIDTH * MM, _HEIGHT * MM),
        # machine-readable copy of what the footer prints, for `root_of` (the signature covers the metadata too)
        _INFO: b"<</Title %s /Keywords (%s) /Creator (vaxpass) /Producer (vaxpass) /CreationDate (D:%s000000Z)>>"
               % (pdf_text_string(f"Danh sách xác nhận tiêm chủng {header.site_code} {header.cycle_id}"),
                  f"{_ROOT_KEY}{merkle_root.hex()} {_LEAVES_KEY}{leaves}".encode("ascii"),
                  header.run_date.strftime("%Y%m%d").encode()),
    }
    for k, (number, content) in enumerate(zip(numbers, pages, strict=True), start=1):
        number_line = layout.text(layout.regular, b"F1", 8, f"Trang / Page {k}/{total}", _MARGIN,
                                  _HEIGHT - _BREAK + 3, 5)
        own[number] = (b"<</Type /Page /Parent %d 0 R /Resources <</Font <</F1 %d 0 R /F2 %d 0 R>>"
                       b" /ProcSet [/PDF /Text]>> /Contents %d 0 R>>" % (_PAGES, _REGULAR, _BOLD, number + 1))
        own[number + 1] = pdf_stream(b" /Filter /FlateDecode", zlib.compress(content + number_line, _DEFLATE),
                                     compress=False)
    file_id = hashlib.sha256(f"{header.site_code}|{header.cycle_id}|".encode() + merkle_root).digest()[:16]
    return layout.template.document(own, file_id)
