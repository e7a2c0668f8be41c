"""A one-page PDF written from a template: the objects every document shares (fonts, page tree, structure) are
serialised once, and each document adds only its own few objects (content stream, image, attachment, info).

Why not fpdf2 per document: it parses both fonts and subsets them anew for every PDF (fontTools), which is
three quarters of the time of a PDF certificate. Here each font is subset once per process to the whole
repertoire it ships for (Latin, every Vietnamese letter; see fonts/SOURCE.md), without hinting, and embedded as
a CIDFontType2 with Identity-H encoding, so a text's codes are simply its glyph ids; the `ToUnicode` map covers
every glyph, so copied or extracted text is the text.
"""

from __future__ import annotations

import io
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat

import numpy as np
from fontTools import subset
from fontTools.ttLib import TTFont

MM = 72 / 25.4  # PDF points per millimetre


def pdf_stream(entries: bytes, data: bytes, *, compress: bool = True) -> bytes:
    """A stream object's body: its dictionary entries plus /Length (and /Filter when compressed)."""
    if compress:
        data = zlib.compress(data, 6)
        entries += b" /Filter /FlateDecode"
    return b"<<" + entries + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream"


def pdf_text_string(text: str) -> bytes:
    """A PDF text string for any Unicode text: UTF-16BE with its byte order mark, written in hex."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


_SEPARATOR = "\n"
_BETWEEN = b">||<"  # four bytes, as a glyph's hex: the end of one text's hex string, the start of the next's


def _code_points(texts: Sequence[str]) -> np.ndarray | None:
    """The code points of the texts in NFC, joined by newlines; None when there are none or one holds a newline
    itself. A newline neither composes nor reorders with what is around it (a starter with no composition),
    so the NFC of the joined texts is each text's NFC, joined."""
    joined = _SEPARATOR.join(texts)
    if not texts or joined.count(_SEPARATOR) != len(texts) - 1:
        return None
    if not joined.isascii():
        joined = unicodedata.normalize("NFC", joined)
    return np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _Glyphs(dict[int, str]):
    """Code point -> glyph id in hex, for `str.translate`; a character the font lacks is .notdef (0000)."""

    def __missing__(self, key: int) -> str:
        return "0000"


class EmbeddedFont:
    """One TrueType face, subset once to its whole character repertoire and written as a Type0 font."""

    def __init__(self, path: str, base_name: str) -> None:
        font = TTFont(path)
        options = subset.Options()
        options.layout_features = []  # text is placed glyph by glyph: no shaping, kerning or ligatures
        options.hinting = False  # PDF viewers rasterise with their own hinting; halves the embedded size
        options.notdef_outline = True  # a character the font lacks shows as a box, not as nothing
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "MATH"]
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=font.getBestCmap().keys())
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
        self.base_name = base_name
        self._file = out.getvalue()
        order = font.getGlyphOrder()
        gid = {name: i for i, name in enumerate(order)}
        scale = 1000 / font["head"].unitsPerEm
        self._widths = [round(font["hmtx"][name][0] * scale) for name in order]
        self._codes: dict[str, str] = {}
        self._advance: dict[str, int] = {}
        unicode_of: dict[int, int] = {}
        for char, name in sorted(font.getBestCmap().items()):
            self._codes[chr(char)] = f"{gid[name]:04X}"
            self._advance[chr(char)] = self._widths[gid[name]]
            unicode_of.setdefault(gid[name], char)
        self._unicode_of = unicode_of
        self._glyphs = _Glyphs({ord(c): code for c, code in self._codes.items()})  # for str.translate
        # for `encode_many` and `widths_many`: the glyph id in hex and the advance, by code point; the last
        # entry stands for every code point past the table (.notdef); the newline's hex is `_BETWEEN`
        size = max(map(ord, self._codes)) + 2
        hexes = np.full((size, 4), list(b"0000"), dtype=np.uint8)
        self._advance_table = np.full(size, self._widths[0], dtype=np.int64)
        for char, code in self._codes.items():
            hexes[ord(char)] = list(code.encode("ascii"))
            self._advance_table[ord(char)] = self._advance[char]
        hexes[ord(_SEPARATOR)] = list(_BETWEEN)
        self._hex_table = hexes.view(np.uint32).ravel()  # a character's four hex digits as one element
        head, os2 = font["head"], font["OS/2"]
        self._descriptor = (
            b"/Ascent %d /Descent %d /CapHeight %d /FontBBox [%d %d %d %d] /Flags 4 /ItalicAngle 0 /StemV %d"
            % (round(os2.sTypoAscender * scale), round(os2.sTypoDescender * scale),
               round(getattr(os2, "sCapHeight", os2.sTypoAscender) * scale), round(head.xMin * scale),
               round(head.yMin * scale), round(head.xMax * scale), round(head.yMax * scale),
               50 + int((os2.usWeightClass / 65) ** 2)))

    def encode(self, text: str) -> bytes:
        """`text` (NFC) as a hex string of glyph ids; a character the font lacks becomes .notdef (a box)."""
        if not text.isascii():  # ASCII is its own NFC form: dates, ID numbers and hex skip the normalisation
            text = unicodedata.normalize("NFC", text)
        return ("<" + text.translate(self._glyphs) + ">").encode()

    def width(self, text: str, size: float) -> float:
        """The advance width of `text` at `size` points, in points."""
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        advance: Callable[[str, int], int] = self._advance.get
        return sum(map(advance, text, repeat(self._widths[0]))) * size / 1000

    def encode_many(self, texts: Sequence[str]) -> list[bytes]:
        """`encode` of each text, for a table column: the texts joined, normalised once and looked up in a
        table of glyph ids in hex (`str.translate` makes an int object per non-Latin-1 character), split after."""
        points = _code_points(texts)
        if points is None:
            return [self.encode(text) for text in texts]
        return (b"<" + self._hex_table.take(points, mode="clip").tobytes() + b">").split(_BETWEEN[1:3])

    def widths_many(self, texts: Sequence[str], size: float) -> list[float]:
        """`width` of each text, for a table column: the advances summed per text from one running total over
        the texts joined (the sums are whole numbers, so each width is the float `width` computes)."""
        points = _code_points(texts)
        if points is None:
            return [self.width(text, size) for text in texts]
        advances = self._advance_table.take(points, mode="clip")
        running = np.concatenate(([0], np.cumsum(advances)))
        breaks = np.flatnonzero(points == ord(_SEPARATOR))
        sums = running[np.append(breaks, len(points))] - running[np.concatenate(([0], breaks + 1))]
        return [total * size / 1000 for total in sums.tolist()]

    def objects(self, first: int) -> dict[int, bytes]:
        """The font's five objects, numbered from `first` (the Type0 font itself is `first`)."""
        name = b"/" + self.base_name.encode("ascii")
        widths = b" ".join(b"%d" % w for w in self._widths)
        lines = [f"<{gid:04X}> <{char:04X}>" if char <= 0xFFFF else
                 f"<{gid:04X}> <{pdf_text_string(chr(char))[5:-1].decode()}>"
                 for gid, char in sorted(self._unicode_of.items())]
        chunks = [f"{len(part)} beginbfchar\n" + "\n".join(part) + "\nendbfchar"
                  for part in (lines[i:i + 100] for i in range(0, len(lines), 100))]
        cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                "/CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n"
                "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + "\n".join(chunks)
                + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n").encode("ascii")
        return {
            first: b"<</Type /Font /Subtype /Type0 /BaseFont %s /Encoding /Identity-H /DescendantFonts [%d 0 R]"
                   b" /ToUnicode %d 0 R>>" % (name, first + 1, first + 4),
            first + 1: b"<</Type /Font /Subtype /CIDFontType2 /BaseFont %s /CIDSystemInfo <</Registry (Adobe)"
                       b" /Ordering (Identity) /Supplement 0>> /FontDescriptor %d 0 R /CIDToGIDMap /Identity"
                       b" /DW %d /W [0 [%s]]>>" % (name, first + 2, self._widths[0], widths),
            first + 2: b"<</Type /FontDescriptor /FontName %s %s /FontFile2 %d 0 R>>"
                       % (name, self._descriptor, first + 3),
            first + 3: pdf_stream(b"/Length1 %d" % len(self._file), self._file),
            first + 4: pdf_stream(b"", cmap),
        }


class PdfTemplate:
    """The shared objects of a family of PDFs, serialised once (header and all), with their cross-reference
    entries; `document` appends one document's own objects and the cross-reference table."""

    def __init__(self, shared: Mapping[int, bytes], own: Iterable[int] | None, *, root: int, info: int) -> None:
        """`own` None: each document gives its own objects, numbered on from the shared ones (a document of
        any number of pages)."""
        self._own = None if own is None else sorted(own)
        self._size = max([*shared, *(self._own or ())]) + 1
        if set(shared) & set(self._own or ()) or (
                set(range(1, self._size)) != set(shared) | set(self._own or ())):
            raise ValueError("object numbers must be 1..N, each shared or own")
        head = io.BytesIO()
        head.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        self._offsets: dict[int, int] = {}
        for number in sorted(shared):
            self._offsets[number] = head.tell()
            head.write(b"%d 0 obj\n%s\nendobj\n" % (number, shared[number]))
        self._head = head.getvalue()
        self._trailer = b"trailer\n<</Size %%d /Root %d 0 R /Info %d 0 R" % (root, info)

    def document(self, own: Mapping[int, bytes], file_id: bytes) -> bytes:
        """The whole file: the shared part, then `own` objects (each number given at construction), the
        cross-reference table and the trailer with `file_id` (16 bytes) as both halves of /ID."""
        numbers = sorted(own)
        size = self._size if self._own is not None else self._size + len(numbers)
        if numbers != (self._own if self._own is not None else list(range(self._size, size))):
            raise ValueError("the document must give exactly its own objects")
        parts = [self._head]
        offsets = dict(self._offsets)
        at = len(self._head)
        for number in numbers:
            obj = b"%d 0 obj\n%s\nendobj\n" % (number, own[number])
            offsets[number] = at
            at += len(obj)
            parts.append(obj)
        xref = [b"xref\n0 %d\n0000000000 65535 f\r\n" % size]
        xref += [b"%010d 00000 n\r\n" % offsets[n] for n in range(1, size)]
        ident = file_id.hex().upper().encode("ascii")
        parts += xref
        parts.append(self._trailer % size + b" /ID [<%s> <%s>]>>\nstartxref\n%d\n%%%%EOF\n" % (ident, ident, at))
        return b"".join(parts)
