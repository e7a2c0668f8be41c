"""A site's inbox folder: each file dropped into it is a delivery (CSV/TSV/TXT text exports, .xlsx workbooks).

Files are taken in name order. Hidden files, Excel lock files (`~$…`) and partial uploads (`.part`, `.tmp`)
are skipped: they are not deliveries yet. A file of any other type is landed and rejected as
`unsupported-file`, so even a wrong file a site sends is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vaxpass.errors import RowProblem, SourceError
from vaxpass.extract.csv_source import open_csv
from vaxpass.extract.source import Delivery, DeliveryError, Rows
from vaxpass.extract.xlsx_source import open_xlsx

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_SKIP_SUFFIXES = (".part", ".tmp", ".crdownload")


class InboxSource:
    kind = "inbox"

    def __init__(self, site: str, folder: Path, label: str, options: dict[str, Any]) -> None:
        self.site, self.folder, self.label = site, folder, label
        self.sheet: str | None = options.get("sheet")
        self.max_bytes = int(float(options.get("max_file_mb", 64)) * (1 << 20))
        self.notes: list[RowProblem] = []

    def deliveries(self, watermark: dict[str, Any] | None) -> Iterator[Delivery]:
        if not self.folder.is_dir():
            raise SourceError(self.site, self.label, "inbox-missing", "the site's inbox folder is absent")
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.name.startswith((".", "~$")) or path.suffix.lower() in _SKIP_SUFFIXES:
                continue
            yield Delivery(name=path.name, kind="file", suffix=path.suffix.lower(), path=path,
                           rows=self._reader(path), watermark={"last_file": path.name})

    def _reader(self, path: Path) -> Any:
        suffix, site, name, size = path.suffix.lower(), self.site, path.name, path.stat().st_size

        def rows(landed: Path) -> Rows:
            if size > self.max_bytes:
                raise DeliveryError(site, name, "file-too-large",
                                    f"{size} bytes, over the site's limit of {self.max_bytes}")
            if suffix in TEXT_SUFFIXES:
                return open_csv(landed, site, name)
            if suffix == ".xlsx":
                return open_xlsx(landed, site, name, self.sheet)
            raise DeliveryError(site, name, "unsupported-file", f"{suffix or 'no suffix'}: not .csv, .txt, .tsv or "
                                ".xlsx")
        return rows
