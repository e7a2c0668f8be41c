"""Reading a text export as lines whatever its encoding: UTF-8 (with or without BOM), UTF-16 (Excel's
"Unicode text"), Windows-1258, or a mix of UTF-8 and Windows-1258 lines in one file (two exports pasted
together). Files are streamed, never read whole, so a 100 MB file costs a few MB of memory."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from vaxpass.extract.source import DeliveryError

_CHUNK = 1 << 20
_MAGIC = {b"PK\x03\x04": "a zip archive (an .xlsx?)", b"%PDF": "a PDF document", b"\xd0\xcf\x11\xe0": "an OLE (.xls)",
          b"\x1f\x8b": "a gzip archive", b"SQLite format 3": "a SQLite database"}


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _has_utf8_text(path: Path) -> bool:
    """Some line holds non-ASCII text that is valid UTF-8 (so the file is not plain Windows-1258)."""
    with path.open("rb") as fh:
        for line in fh:
            if not line.isascii():
                try:
                    line.decode("utf-8")
                    return True
                except UnicodeDecodeError:
                    continue
    return False


class TextLines:
    """The file's lines as text (line endings kept, for the csv module). `foreign_lines` collects the numbers of
    lines that were not in the file's main encoding (decoded as Windows-1258, to be quarantined)."""

    def __init__(self, path: Path, site: str, name: str) -> None:
        self.path, self.foreign_lines = path, set[int]()
        with path.open("rb") as fh:
            head = fh.read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.encoding = "utf-16"
        else:
            for magic, what in _MAGIC.items():
                if head.startswith(magic):
                    raise DeliveryError(site, name, "binary-file", f"the file is {what}, not a text export")
            if b"\x00" in head:
                raise DeliveryError(site, name, "binary-file", "the file holds NUL bytes: not a text export")
            if _is_utf8(path):
                self.encoding = "utf-8-sig"
            elif _has_utf8_text(path):
                self.encoding = "mixed"
            else:
                self.encoding = "cp1258"

    def __iter__(self) -> Iterator[str]:
        if self.encoding != "mixed":
            with open(self.path, encoding=self.encoding, errors="replace", newline="") as fh:
                yield from fh
            return
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    yield line.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    self.foreign_lines.add(number)
                    yield line.decode("cp1258", errors="replace")
