"""A workbook's cell values, the same as openpyxl's read-only mode gives them (`iter_rows(values_only=True)`,
formulas as text), in a fraction of its time.

openpyxl's read-only sheet builds an element, a dict and checked objects for every cell through defusedxml's
pure-Python parser callbacks, and parses the whole sheet twice when it has no `<dimension>` (openpyxl's own
write-only files have none): about 0.2 ms a row, more than the rest of extraction does with it. Here openpyxl
still reads the workbook's parts (content types, workbook, properties, styles), while the sheet and the shared
strings go through one expat pass that keeps only rows, as small lists. The common cells — numbers, dates and
durations by their number format, shared and inline strings, booleans, error codes — are read here, following
openpyxl's `WorkSheetParser.parse_cell`; any other row (a formula, rich text, an attribute openpyxl would
refuse) goes to openpyxl's own parser as an element, so its values are openpyxl's by construction.
Entity declarations and external entities are refused, as defusedxml does.
Even so a row cost ~90 µs, most of it expat's Python callbacks (three per element, ~30 elements a row):
past `<sheetData>`, rows of the common shape are read from the bytes by regular expressions (`_FastRows`, a
third of the time) while expat, with no callbacks, checks every byte; the element builder takes over at the
first row of another shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from string import digits
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

from defusedxml.common import EntitiesForbidden, ExternalReferenceForbidden
from openpyxl.cell.text import Text
from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.worksheet._reader import WorkSheetParser, _cast_number
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.xml.constants import SHEET_MAIN_NS

_NS = SHEET_MAIN_NS + "}"  # expat's names with "}" as namespace separator: "<uri>}<local>"
_ROW, _V, _F, _IS, _T, _SI = (_NS + n for n in ("row", "v", "f", "is", "t", "si"))
_DIMENSION, _DATA = _NS + "dimension", _NS + "sheetData"
_READ = 1 << 16
_OPEN_SLICE = 1 << 12
_TAG, _ATTRS, _TEXT, _KIDS = range(4)  # a node: [tag, attributes, text or None, children or None]
Node = list[Any]


class Workbook:
    """A workbook opened as `load_workbook(read_only=True)` opens it (openpyxl reads its parts, and its errors
    are worded alike), with the sheet named `title` (None: the first worksheet) ready to read."""

    def __init__(self, path: Path, title: str | None = None) -> None:
        reader = ExcelReader(path, read_only=True, data_only=False)
        self.archive = reader.archive
        self.strings: list[str] = []
        self._sheet: Sheet | None = None
        self._no_sheet: Exception = IndexError("the workbook has no worksheet")
        try:
            try:
                self._read(reader, title)
            except ValueError as exc:  # load_workbook's wording: a ValueError, whatever the part
                raise ValueError(f"Unable to read workbook: {exc}") from exc
        except BaseException:
            self.archive.close()
            raise

    def _read(self, reader: ExcelReader, title: str | None) -> None:
        reader.read_manifest()
        ct = reader.package.find(SHARED_STRINGS)
        if ct is not None:
            self.strings = [_plain(si).replace("x005F_", "") for si in _nodes(self.archive, ct.PartName[1:], _SI)]
        reader.read_workbook()
        reader.read_properties()
        reader.read_custom()
        reader.read_theme()
        apply_stylesheet(reader.archive, reader.wb)
        wb = reader.wb
        self.epoch, self.date_formats, self.timedelta_formats = wb.epoch, wb._date_formats, wb._timedelta_formats
        worksheets: dict[str, str] = {}
        for sheet, rel in reader.parser.find_sheets():
            if rel.target not in reader.valid_files:
                continue
            if "chartsheet" in rel.Type:
                reader.read_chartsheet(sheet, rel)
                if sheet.name == title:
                    self._no_sheet = AttributeError("a chart sheet has no rows")
                continue
            worksheets.setdefault(sheet.name, rel.target)
        if title is not None and title not in worksheets and not isinstance(self._no_sheet, AttributeError):
            self._no_sheet = KeyError(f"Worksheet {title} does not exist.")
        part = next(iter(worksheets.values()), None) if title is None else worksheets.get(title)
        if part is not None:
            self._sheet = Sheet(self, part)
        reader.parser.assign_names()

    def sheet(self) -> Sheet:
        """The sheet asked for: IndexError, KeyError or AttributeError (a chart sheet) as openpyxl's
        `book.worksheets[0]` or `book[title].iter_rows` when there is none."""
        if self._sheet is None:
            raise self._no_sheet
        return self._sheet

    def close(self) -> None:
        self.archive.close()


class _Builder:
    """expat handlers that keep the elements named `keep` (with their subtrees) as nodes, and the sheet's
    `<dimension>` when it comes before `<sheetData>`."""

    def __init__(self, keep: str) -> None:
        self.done, self.dimension, self.data_started = list[Node](), None, False
        stack: list[Node] = []
        done = self.done

        # (closures, not methods: they run for every element of the sheet)
        def start(tag: str, attrs: dict[str, str]) -> None:
            if stack:
                node: Node = [tag, attrs, None, None]
                parent = stack[-1]
                if parent[_KIDS] is None:
                    parent[_KIDS] = [node]
                else:
                    parent[_KIDS].append(node)
                stack.append(node)
            elif tag == keep:
                stack.append([tag, attrs, None, None])
            elif tag == _DATA:
                self.data_started = True
            elif tag == _DIMENSION and self.dimension is None and not self.data_started:
                self.dimension = [tag, attrs, None, None]

        def end(tag: str) -> None:
            if stack:
                node = stack.pop()
                if not stack:
                    done.append(node)

        def chars(data: str) -> None:
            if stack:
                node = stack[-1]
                if node[_KIDS] is None:  # an element's text is what comes before its first child
                    node[_TEXT] = data if node[_TEXT] is None else node[_TEXT] + data

        p = self.parser = expat.ParserCreate(namespace_separator="}")
        p.buffer_text = True
        p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, chars
        p.EntityDeclHandler = p.UnparsedEntityDeclHandler = self.forbid_entity
        p.ExternalEntityRefHandler = self.forbid_external
        p.DefaultHandlerExpand = self.default

    def forbid_entity(self, name: str, *args: Any) -> None:
        raise EntitiesForbidden(name, None, None, None, None, None)

    def forbid_external(self, context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
        raise ExternalReferenceForbidden(context, base, sysid, pubid)

    def default(self, text: str) -> None:
        if text[:1] == "&":  # as ElementTree: an entity no DTD here declares
            err = ParseError(f"undefined entity {text}: line {self.parser.ErrorLineNumber}, "
                             f"column {self.parser.ErrorColumnNumber}")
            err.code, err.position = 11, (self.parser.ErrorLineNumber, self.parser.ErrorColumnNumber)
            raise err

    def feed(self, data: bytes) -> list[Node]:
        """The kept elements completed by `data` (b"": the end); a syntax error is raised after those before it
        came out, as ElementTree's iterparse does."""
        error: Exception | None = None
        try:
            self.parser.Parse(data, not data)
        except expat.ExpatError as exc:
            error = ParseError(str(exc))
            error.code, error.position = exc.code, (exc.lineno, exc.offset)
        done = self.done[:]
        self.done.clear()
        if error is not None:
            done.append(error)  # type: ignore[arg-type]
        return done


def _well_formed(head: bytes) -> bool:
    """Whether expat finds no error in the start of a document (what the builder would raise reading it)."""
    try:
        expat.ParserCreate(namespace_separator="}").Parse(head, False)
    except expat.ExpatError:
        return False
    return True


def _nodes(archive: Any, part: str, keep: str) -> Iterator[Node]:
    builder = _Builder(keep)
    with archive.open(part) as src:
        while True:
            data = src.read(_READ)
            for node in builder.feed(data):
                if isinstance(node, Exception):
                    raise node
                yield node
            if not data:
                return


def element(node: Node) -> Element:
    """A node as an ElementTree element (for openpyxl's parsers)."""
    def name(n: str) -> str:
        return "{" + n if "}" in n else n
    el = Element(name(node[_TAG]), {name(k): v for k, v in node[_ATTRS].items()})
    el.text = node[_TEXT]
    el.extend(element(kid) for kid in node[_KIDS] or ())
    return el


def _plain(node: Node) -> str:
    """`Text.from_tree(node).content`: a string item's text (the last `<t>`; rich text runs joined)."""
    kids: list[Node] = node[_KIDS] or []
    if len(kids) == 1 and kids[0][_TAG] == _T and not node[_ATTRS]:  # the usual: one <t>
        return kids[0][_TEXT] or ""
    if not node[_ATTRS] and all(kid[_TAG] == _T for kid in kids):
        return (kids[-1][_TEXT] or "") if kids else ""
    return str(Text.from_tree(element(node)).content)


def _find(node: Node, tag: str) -> Node | None:
    for kid in node[_KIDS] or ():
        if kid[_TAG] == tag:
            return kid
    return None


class Sheet:
    """A worksheet's rows as openpyxl's `iter_rows(values_only=True)` yields them: row 1 first, empty rows for
    missing ones, each row as wide as the sheet's dimension says (or up to its last cell), none past it."""

    def __init__(self, book: Workbook, part: str) -> None:
        self.book, self.part = book, part
        self.src = book.archive.open(part)
        self.builder = _Builder(_ROW)
        self.ready: list[Node] = []
        self.ended = False
        self.pending = b""  # read, not yet given to the builder
        # read up to the sheet data: the dimension comes first (openpyxl reads it when it opens the book)
        head = b""
        while not self.builder.data_started and not self.ended:
            head += self._open_read()
        if self.pending and (b"<!DOCTYPE" in head or not _well_formed(head)):
            self.ready += self.builder.feed(self.pending)  # the builder raises what it meets there, as it would
            self.pending = b""
        for node in self.ready:
            if isinstance(node, Exception):
                raise node
        self.max_col = self.max_row = None
        if self.builder.dimension is not None:
            _, _, self.max_col, self.max_row = SheetDimension.from_tree(element(self.builder.dimension)).boundaries
        self.parser = WorkSheetParser(None, book.strings, data_only=False, epoch=book.epoch,
                                      date_formats=book.date_formats, timedelta_formats=book.timedelta_formats)
        self._columns: dict[str, int] = {}

    def _open_read(self) -> bytes:
        """A block, given to the builder a slice at a time up to the start of the sheet data only (the rows
        are `_FastRows`'s to read); the rest is kept for the builder in case it reads the rows itself."""
        data = self.src.read(_READ)
        self.ended = not data
        for i in range(0, len(data), _OPEN_SLICE):
            self.ready += self.builder.feed(data[i:i + _OPEN_SLICE])
            if self.builder.data_started:
                self.pending = data[i + _OPEN_SLICE:]
                break
        if not data:
            self.ready += self.builder.feed(data)
        return data

    def _read(self) -> None:
        if self.pending:
            self.ready += self.builder.feed(self.pending)
            self.pending = b""
            return
        data = self.src.read(_READ)
        self.ready += self.builder.feed(data)
        self.ended = not data

    def _row_nodes(self, skip: int = 0) -> Iterator[Node]:
        """The sheet's row nodes (after the first `skip`) through the element builder."""
        while True:
            ready, self.ready = self.ready, []
            for node in ready:
                if isinstance(node, Exception):
                    raise node
                if skip:
                    skip -= 1
                    continue
                yield node
            if self.ended:
                return
            self._read()

    def _parsed_rows(self) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        """Each row's number and cells. The rows the opening read already built come from their nodes; the rest
        from `_FastRows` when the sheet allows, until it meets a row it does not read, after which the element
        builder reads the sheet again from the start and takes over from that row."""
        try:
            done = 0
            ready, self.ready = self.ready, []
            for node in ready:
                if isinstance(node, Exception):
                    raise node
                done += 1
                yield self._parse_row(node)
            if not self.ended:
                fast = _FastRows.open(self, done)
                if fast is None:
                    done = 0  # the builder goes on where the opening read stopped
                else:
                    yield from fast
                    if fast.finished:
                        return
                    done = max(done, fast.rows)  # the rows already yielded, by either reader
                    self.src.close()
                    self.src, self.builder, self.ended = self.book.archive.open(self.part), _Builder(_ROW), False
                    self.pending = b""
                for node in self._row_nodes(done):
                    yield self._parse_row(node)
        finally:
            self.src.close()

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """openpyxl's `ReadOnlyWorksheet._cells_by_row(1, 1, max_col, max_row, values_only=True)`."""
        max_col, max_row = self.max_col, self.max_row
        empty: tuple[Any, ...] = (None,) * max_col if max_col is not None else ()
        counter = idx = 1
        for idx, cells in self._parsed_rows():
            if max_row is not None and idx > max_row:
                break
            for _ in range(counter, idx):
                counter += 1
                yield empty
            if counter <= idx:
                counter += 1
                if not cells and not max_col:
                    yield ()
                    continue
                width = max_col or cells[-1][0]
                values = [None] * width
                for column, value in cells:
                    if 1 <= column <= width:
                        values[column - 1] = value
                yield tuple(values)
        if max_row is not None and max_row < idx:
            for _ in range(counter, max_row + 1):
                yield empty

    def _parse_row(self, node: Node) -> tuple[int, list[tuple[int, Any]]]:
        """openpyxl's `WorkSheetParser.parse_row` as (row number, [(column, value)])."""
        parser = self.parser
        cells = [self._cell(kid) for kid in node[_KIDS] or ()] if "r" in node[_ATTRS] else None
        if cells is None or None in cells:  # a row number to count or a cell only openpyxl reads: all by openpyxl
            idx, parsed = parser.parse_row(element(node))
            return idx, [(c["column"], c["value"]) for c in parsed]
        try:
            parser.row_counter = int(node[_ATTRS]["r"])
        except ValueError:  # "7.0" is row 7; anything else raises
            parser.parse_row(Element("row", r=node[_ATTRS]["r"]))
        return parser.row_counter, cells  # type: ignore[return-value]

    def _cell(self, node: Node) -> tuple[int, Any] | None:
        """openpyxl's `WorkSheetParser.parse_cell` (column and value) for a cell with a coordinate and no
        formula; None for any other."""
        attrs = node[_ATTRS]
        coordinate = attrs.get("r")
        if not coordinate:
            return None
        column = self.column(coordinate.rstrip(digits), coordinate)
        kind = attrs.get("t", "n")
        style = attrs.get("s", 0)
        if style:
            style = int(style)
        value: Any = None
        found = kind == "inlineStr"  # openpyxl reads no <v> of an inline string cell
        for kid in node[_KIDS] or ():
            tag = kid[_TAG]
            if tag == _F:
                return None
            if tag == _V and not found:
                found, value = True, kid[_TEXT] or None
        if value is not None:
            value = self.typed(kind, style, value)
        elif kind == "inlineStr":
            child = _find(node, _IS)
            if child is not None:
                value = _plain(child)
        return column, value

    def column(self, letters: str, coordinate: str) -> int:
        column = self._columns.get(letters)
        if column is None or len(letters) == len(coordinate):
            column = coordinate_to_tuple(coordinate)[1]
            if not any(c in digits for c in letters):
                self._columns[letters] = column
        return column

    def typed(self, kind: str, style: Any, value: str) -> Any:
        """A cell's `<v>` text as openpyxl types it by the cell's type and number format."""
        if kind == "n":
            value = _cast_number(value)
            if style in self.book.date_formats:
                try:
                    return from_excel(value, self.book.epoch, timedelta=style in self.book.timedelta_formats)
                except (OverflowError, ValueError):
                    return "#VALUE!"
        elif kind == "s":
            return self.book.strings[int(value)]
        elif kind == "b":
            return bool(int(value))
        elif kind == "d":
            return from_ISO8601(value)
        return value


# The rows `_FastRows` reads: a row numbered `r` first, then attributes without namespace declarations; cells
# with a coordinate, optional style and type (in the order Excel and openpyxl write them) and either a `<v>` or
# an inline string of one `<t>`, no formula. Whitespace between elements is what XML allows there.
_WS = rb"[ \t\r\n]*"
_ROW_RE = re.compile(_WS + rb'<row r="(\d+)"((?: [A-Za-z_][\w:.-]*="[^"<&]*")*)' + _WS + rb"(/?)>")
_CELL = (_WS + rb'<c r="([A-Z]{1,3})(\d+)"(?: s="(\d+)")?(?: t="([A-Za-z]+)")?' + _WS + rb"(?:/>|>" + _WS
         + rb'(?:<v>([^<]*)</v>|(<is>)' + _WS + rb'<t(?: xml:space="preserve")?>([^<]*)</t>' + _WS + rb"</is>)?"
         + _WS + rb"</c>)")
_CELL_RE = re.compile(_CELL)
_DEFAULT_NS = b'xmlns="' + SHEET_MAIN_NS.encode() + b'"'
_ROW_TAG = re.compile(rb"[<:]row[ \t\r\n/>]")
_SHEET_DATA = re.compile(rb"<sheetData(?:[ \t\r\n][^>]*)?>")
_ENCODING = re.compile(rb"""encoding=["']([^"']*)["']""")
_REF = re.compile(r"&(?:#(\d+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_VALUES_KEPT = 1 << 16
_KINDS = {None: "n", b"": "n", b"n": "n", b"s": "s", b"inlineStr": "inlineStr", b"str": "str", b"b": "b", b"e": "e",
          b"d": "d"}
_HEAD_LIMIT = 1 << 22


def _deref(m: re.Match[str]) -> str:
    if m[1]:
        return chr(int(m[1]))
    if m[2]:
        return chr(int(m[2], 16))
    return _NAMED[m[3]]


def _text(raw: bytes) -> str:
    """Character data as an XML parser gives it: line ends normalised, then character references replaced
    (the document is well-formed: the validating parser has read these bytes)."""
    text = raw.decode()
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = _REF.sub(_deref, text)
    return text


class _FastRows:
    """A sheet's rows read from its bytes by regular expressions, for the shape of row nearly every producer
    writes: the builder's Python callbacks for every element cost four times expat's parse. Nothing is decided
    here that XML could make differ: expat (no callbacks) reads every byte first and so vouches that the
    document is well-formed up to each row used; UTF-8 documents only, no DTD, comment or processing
    instruction before the sheet data, rows and cells in the default namespace. At the first thing outside
    that shape — another row or cell shape, a parse error, a `row` after the sheet data — it stops
    (`finished` False, `rows` read so far) and the element builder takes over from that row."""

    def __init__(self, sheet: Sheet, src: Any, parser: Any, buf: bytes, base: int, skip: int) -> None:
        self.sheet, self.src, self.parser, self.buf, self.base, self.skip = sheet, src, parser, buf, base, skip
        self.rows, self.finished, self.ended = 0, False, False
        self.error_at: int | None = None

    @classmethod
    def open(cls, sheet: Sheet, skip: int) -> _FastRows | None:
        """Positioned just after `<sheetData>` with `skip` rows to pass over; None when the sheet's head rules
        the reader out."""
        src = sheet.book.archive.open(sheet.part)
        parser = expat.ParserCreate(namespace_separator="}")
        head = b""
        while (found := _SHEET_DATA.search(head)) is None:
            data = src.read(_READ)
            if not data or len(head) > _HEAD_LIMIT:
                src.close()
                return None
            head += data
        prefix = head[:found.start()]
        declaration = prefix.removeprefix(b"\xef\xbb\xbf")
        if declaration.startswith(b"<?xml"):
            end = declaration.find(b"?>")
            encoding = _ENCODING.search(declaration[:end])
            if encoding is not None and encoding[1].lower() not in (b"utf-8", b"utf8"):
                end = -1
            declaration = declaration[end + 2:] if end >= 0 else b"<?"
        if b"<?" in declaration or b"<!" in declaration or found[0].endswith(b"/>") or b"xmlns" in found[0] \
                or prefix.count(b'xmlns="') != 1 or _DEFAULT_NS not in prefix:  # <sheetData> in the main namespace
            src.close()
            return None
        fast = cls(sheet, src, parser, head[found.end():], found.end(), skip)
        fast.feed(head)
        return fast

    def feed(self, data: bytes) -> None:
        if self.error_at is not None:
            return
        try:
            self.parser.Parse(data, not data)
        except expat.ExpatError:
            self.error_at = self.parser.ErrorByteIndex

    def more(self, pos: int) -> bool:
        """The unread rest of the buffer with the next block after it; False at the end of the part."""
        data = self.src.read(_READ)
        self.feed(data)
        self.buf, self.base = self.buf[pos:] + data, self.base + pos
        self.ended = not data
        return bool(data)

    def __iter__(self) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        try:
            yield from self._rows()
        finally:
            self.src.close()

    def _rows(self) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        sheet, pos = self.sheet, 0
        columns: dict[bytes, int] = {}
        values: dict[tuple[bytes | None, ...], Any] = {}  # a cell's value by its type, style and text: they repeat
        while True:
            m = _ROW_RE.match(self.buf, pos)
            close = -1 if m is None else m.end() if m[3] else self.buf.find(b"</row>", m.end())
            if m is None or close < 0:
                rest = self.buf[pos:]
                if m is None and rest.lstrip(b" \t\r\n").startswith(b"</sheetData>"):
                    self._tail(pos)
                    return
                if self.ended or self.error_at is not None or (m is None and b"</row>" in rest) or \
                        len(rest) > _HEAD_LIMIT:
                    return
                self.more(pos)
                pos = 0
                continue
            content, end = (b"", close) if m[3] else (self.buf[m.end():close], close + 6)
            if self.error_at is not None and self.base + end > self.error_at:
                return
            parts = _CELL_RE.split(content)
            if b"xmlns" in m[2] or any(parts[0:-1:8]) or parts[-1].strip(b" \t\r\n"):
                return  # another attribute, element or text among the cells
            pos = end
            self.rows += 1
            if self.skip:
                self.skip -= 1
                continue
            cells: list[tuple[int, Any]] = []
            it = iter(parts[1:])
            for letters, number, style, kind, v, inline, t, _ in zip(it, it, it, it, it, it, it, it, strict=True):
                key = (kind, style, v, inline, t)
                value = values.get(key, values)
                if value is values:
                    value = values[key] = self._value(kind, style, v, inline, t)
                column = columns.get(letters)
                if column is None:
                    column = columns[letters] = sheet.column(letters.decode(), (letters + number).decode())
                cells.append((column, value))
            sheet.parser.row_counter = idx = int(m[1])
            yield idx, cells
            if len(values) > _VALUES_KEPT:
                values.clear()

    def _value(self, kind_: bytes | None, style: bytes | None, v: bytes | None, inline: bytes | None,
               t: bytes | None) -> Any:
        """`Sheet._cell`'s value of a cell of the common shape."""
        kind = _KINDS.get(kind_) or kind_.decode()  # type: ignore[union-attr]
        if kind == "inlineStr":
            return _text(t) if inline else None  # type: ignore[arg-type]
        if v:
            return self.sheet.typed(kind, int(style) if style else 0, _text(v))
        return None

    def _tail(self, pos: int) -> None:
        """After the sheet data: read to the end, unless an element named `row` (not `rowBreaks`) or a parse
        error may be there (the builder then reads it)."""
        tail = self.buf[pos:]
        while _ROW_TAG.search(tail) is None and self.error_at is None:
            if not self.more(len(self.buf)):
                self.finished = self.error_at is None
                return
            tail = tail[-5:] + self.buf
