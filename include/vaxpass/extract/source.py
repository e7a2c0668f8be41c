"""The interface every kind of site source implements: deliveries, each landed raw, each yielding rows.

A *delivery* is one unit a site hands over: a file dropped into its inbox, one chunk of a SQL query's result,
one FHIR Bundle page. Each is landed byte for byte (files as they are, query chunks and pages as the documents
received) before any row is read, so nothing received is ever lost. Rows carry their position in the
delivery and the cells under the source's own names; the site's column map turns them into canonical fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from vaxpass.errors import RowProblem, SourceError

# conn_id -> URL (database URL for sql, base URL for fhir); the DAG passes one built on Airflow Connections.
ConnectionResolver = Callable[[str], str]


class SourceRow(NamedTuple):
    """One data row: its position in the delivery (file line, 1 = header; NDJSON line; Bundle entry),
    its cells by source column, and the reason to quarantine it when the reader already knows one; `chars`
    bounds a chunk's memory (0 for rows a source already holds in memory).
    (A named tuple: a million of them are made per million rows, a frozen dataclass costs three times as much.)"""

    row: int
    cells: dict[str, str]
    problem: str | None = None
    chars: int = -1  # characters of the cells when the reader knows them already (-1: count them)


@dataclass
class Rows:
    """A delivery's columns (as the source names them) and a stream of its rows."""

    columns: list[str]
    rows: Iterable[SourceRow]


@dataclass
class Delivery:
    """One unit received from a site. Exactly one of `path` (a file to land as it is) or `data` (a document
    received over a connection) is set. `rows(landed_path)` reads the rows, from the landed copy when it can;
    `watermark` is committed with this delivery's rows (None: leave the site's watermark as it is)."""

    name: str
    kind: str  # file | query | page | watermark (no data: only moves the site's watermark)
    suffix: str
    rows: Callable[[Path], Rows]
    path: Path | None = None
    data: bytes | None = None
    watermark: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        if self.path is not None:
            return self.path.stat().st_size
        return len(self.data or b"")


class Source(Protocol):
    """A site's source of one kind. `deliveries(watermark)` yields what is new since `watermark` (the value
    stored for the site, or None); raising `SourceError` means the source as a whole is unreachable. `notes`
    collects what the source noticed about itself (e.g. rows it can never read) for the run report."""

    kind: str
    notes: list[RowProblem]

    def deliveries(self, watermark: dict[str, Any] | None) -> Iterator[Delivery]: ...


class DeliveryError(SourceError):
    """A delivery (file, query chunk, page) that cannot be read as a whole; names the site, the delivery and,
    when known, the row where reading stopped."""

    def __init__(self, site: str, file: str, reason: str, detail: str = "", row: int | None = None) -> None:
        super().__init__(site, file, reason, detail)
        self.problem = RowProblem(site=site, file=file, row=row, reason=reason, detail=detail)
        self.args = (str(self.problem),)
