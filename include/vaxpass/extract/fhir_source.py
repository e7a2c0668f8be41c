"""FHIR R4 Immunization (+ Patient) resources as paged searchset Bundles, over HTTP or from a folder of pages.

HTTP: `GET <base>/Immunization?_include=Immunization:patient&_sort=_lastUpdated&_count=N[&_lastUpdated=gtW]`,
then each Bundle's `link[relation=next]` (same origin only). Each page is landed byte for byte as received;
the watermark (the latest `meta.lastUpdated` seen) is committed with the last page only, so a feed broken off
half-way is read again from the old watermark next cycle (pages and rows already kept are recognised).
`meta.lastUpdated` is a FHIR instant with a time zone ("2021-08-15T20:00:00+07:00" is before
"2021-08-15T14:00:00Z"): instants are compared as instants, never as text; the watermark keeps the latest one
as the server wrote it, and is sent back verbatim as `_lastUpdated=gt<instant>`. A stamp that is not an
instant (no time zone, not a date-time) never moves the watermark.
Folder (the demo, no server): every `*.json` Bundle in the site's folder, in name order, is a delivery.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from vaxpass.errors import RowProblem, SourceError
from vaxpass.extract.fhir_path import column_texts
from vaxpass.extract.source import Delivery, DeliveryError, Rows, SourceRow

_STATUS_PROBLEMS = {"entered-in-error": "entered_in_error", "not-done": "not_done"}


def bundle_rows(data: bytes, site: str, name: str, paths: list[str]) -> Rows:
    """The Immunization entries of a Bundle page as rows (position = entry number, 1-based)."""
    try:
        bundle = json.loads(data)
    except ValueError as exc:
        raise DeliveryError(site, name, "bad-bundle", "not JSON") from exc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise DeliveryError(site, name, "bad-bundle", "not a FHIR Bundle")
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    index: dict[str, dict[str, Any]] = {}
    for e in entries:
        res = e["resource"]
        index[f"{res.get('resourceType')}/{res.get('id')}"] = res
        if e.get("fullUrl"):
            index[str(e["fullUrl"])] = res
    return Rows(list(paths), _rows(entries, index, paths))


def _patient(imm: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    ref = str((imm.get("patient") or {}).get("reference") or "")
    if ref.startswith("#"):
        return next((c for c in imm.get("contained") or [] if c.get("id") == ref[1:]), None)
    return index.get(ref) or index.get(ref.rsplit("/_history", 1)[0])


def _rows(entries: list[dict[str, Any]], index: dict[str, dict[str, Any]], paths: list[str]) -> Iterator[SourceRow]:
    # a page's cells worked out a column at a time (each path walked over all its resources at once), then
    # laid out as rows: the per-cell walk cost as much as the rest of a FHIR row's extraction
    numbers, imms, patients, problems = [], [], [], []
    for number, entry in enumerate(entries, start=1):
        imm = entry["resource"]
        if imm.get("resourceType") != "Immunization":
            continue
        patient = _patient(imm, index)
        numbers.append(number)
        imms.append(imm)
        patients.append(patient)
        problems.append("patient_missing" if patient is None else _STATUS_PROBLEMS.get(str(imm.get("status"))))
    columns = [column_texts(patients, path[8:]) if path.startswith("patient.") else column_texts(imms, path)
               for path in paths]
    cells = zip(*columns, strict=True) if columns else [()] * len(numbers)
    for number, problem, values in zip(numbers, problems, cells, strict=True):
        yield SourceRow(row=number, cells=dict(zip(paths, values, strict=True)), problem=problem)


def fhir_instant(text: str) -> datetime | None:
    """A FHIR `instant` (date-time with seconds and a time zone; "Z" or ±hh:mm) as an aware datetime."""
    if len(text) < 20 or text[10] != "T":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def later_instant(a: str, b: str) -> str:
    """The later of two instants as written ("" or a non-instant loses)."""
    ta, tb = fhir_instant(a), fhir_instant(b)
    if ta is None:
        return b if tb is not None else a
    return b if tb is not None and tb > ta else a


def _last_updated(bundle: Any) -> str:
    newest = ""
    for e in bundle.get("entry") or []:
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Immunization" and isinstance(res.get("meta"), dict):
            newest = later_instant(newest, str(res["meta"].get("lastUpdated") or ""))
    return newest


class FhirSource:
    kind = "fhir"

    def __init__(self, site: str, base: str | Path, label: str, columns: dict[str, str],
                 options: dict[str, Any]) -> None:
        self.site, self.base, self.label = site, base, label
        self.paths = list(dict.fromkeys(columns.values()))
        self.page_size = int(options.get("page_size", 200))
        self.max_pages = int(options.get("max_pages", 10_000))
        self.timeout = float(options.get("timeout_s", 30))
        self.max_bytes = int(float(options.get("max_page_mb", 32)) * (1 << 20))
        self.notes: list[RowProblem] = []

    def _reader(self, name: str, data: bytes | None = None) -> Any:
        def read(landed: Path) -> Rows:
            return bundle_rows(data if data is not None else landed.read_bytes(), self.site, name, self.paths)
        return read

    def deliveries(self, watermark: dict[str, Any] | None) -> Iterator[Delivery]:
        if isinstance(self.base, Path):
            if not self.base.is_dir():
                raise SourceError(self.site, self.label, "feed-missing", "the site's FHIR page folder is absent")
            for path in sorted(self.base.glob("*.json")):
                yield Delivery(name=path.name, kind="page", suffix=".json", path=path,
                               rows=self._reader(path.name), watermark={"last_file": path.name})
            return
        yield from self._http(str((watermark or {}).get("last_updated") or ""))

    def _get(self, url: str) -> bytes:
        try:
            req = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (scheme checked)
                data: bytes = resp.read(self.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise SourceError(self.site, self.label, "fhir-unreachable", f"HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SourceError(self.site, self.label, "fhir-unreachable", type(exc).__name__) from exc
        if len(data) > self.max_bytes:
            raise SourceError(self.site, self.label, "page-too-large", f"over {self.max_bytes} bytes")
        return data

    def _http(self, since: str) -> Iterator[Delivery]:
        base = str(self.base).rstrip("/")
        origin = urllib.parse.urlsplit(base)[:2]
        if origin[0] not in ("http", "https"):
            raise SourceError(self.site, self.label, "bad-connection", "the FHIR base URL is not http(s)")
        query = {"_include": "Immunization:patient", "_sort": "_lastUpdated", "_count": str(self.page_size)}
        if since:
            query["_lastUpdated"] = f"gt{since}"
        url: str | None = f"{base}/Immunization?{urllib.parse.urlencode(query)}"
        newest, page = since, 0
        while url is not None:
            page += 1
            if page > self.max_pages:
                raise SourceError(self.site, self.label, "too-many-pages", f"over {self.max_pages} pages")
            data = self._get(url)
            try:
                bundle = json.loads(data)
                links = {str(lk.get("relation")): str(lk.get("url")) for lk in bundle.get("link") or []}
            except (ValueError, AttributeError, TypeError):
                bundle, links = {}, {}
            url = links.get("next")
            if url is not None and urllib.parse.urlsplit(url)[:2] != origin:
                raise SourceError(self.site, self.label, "fhir-bad-link", "a next link leaves the server")
            newest = later_instant(newest, _last_updated(bundle) if isinstance(bundle, dict) else "")
            mark = {"last_updated": newest} if url is None and newest else None
            name = f"Immunization page {page}" + (f" (_lastUpdated>{since})" if since else "")
            if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle" and not bundle.get("entry"):
                # an empty search result carries no data: nothing to land, only the watermark to keep
                yield Delivery(name=name, kind="watermark", suffix="", rows=self._reader(name, data), watermark=mark)
                continue
            yield Delivery(name=name, kind="page", suffix=".json", data=data, rows=self._reader(name, data),
                           watermark=mark)
