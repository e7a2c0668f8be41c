"""A site's column mapping: which of its columns (or SQL columns, or FHIR paths) holds each canonical field.

Headers are matched after NFC normalisation, case folding and collapsing spaces, so "HỌ VÀ TÊN" and an NFD
"Họ và tên" typed on another machine both match. A bound mapping renames a row's cells: mapped columns take
the canonical Vietnamese header (`SOURCE_HEADERS`), so every later stage reads every source kind alike; other
columns keep their own name. The bytes exactly as received stay in the landing zone.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from vaxpass.domain import REQUIRED_FIELDS, SOURCE_HEADERS
from vaxpass.extract.source import DeliveryError

# Default mapping per source kind: file exports use the Vietnamese headers, SQL tables the field names,
# FHIR the paths of an R4 Immunization (`patient.` follows Immunization.patient to the Patient resource).
FHIR_DEFAULT: dict[str, str] = {
    "source_key": "identifier[0].value",
    "full_name": "patient.name[0].text",
    "dob": "patient.birthDate",
    "sex": "patient.gender",
    "national_id": "patient.identifier[system=urn:vn:cccd].value",
    "phone": "patient.telecom[0].value",
    "vaccine": "vaccineCode.text",
    "dose_number": "protocolApplied[0].doseNumberPositiveInt",
    "vaccination_date": "occurrenceDateTime",
    "lot": "lotNumber",
    "nationality": "patient.address[0].country",
    "passport_no": "patient.identifier[system=urn:vn:passport].value",
}


def default_map(kind: str) -> dict[str, str]:
    if kind == "sql":
        return {f: f for f in SOURCE_HEADERS}
    if kind == "fhir":
        return dict(FHIR_DEFAULT)
    return dict(SOURCE_HEADERS)


def site_map(kind: str, overrides: dict[str, str]) -> dict[str, str]:
    return default_map(kind) | overrides


def header_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name.replace("\ufeff", "")).casefold().split())


class BoundColumns:
    """A mapping bound to one delivery's columns: `raw(cells)` renames a row's cells."""

    def __init__(self, rename: dict[str, str]) -> None:
        self.rename = rename
        self.identity = all(k == v for k, v in rename.items())
        self.key_column = next(k for k, v in rename.items() if v == SOURCE_HEADERS["source_key"])

    def raw(self, cells: dict[str, str]) -> dict[str, str]:
        if self.identity:
            return cells
        return {self.rename.get(k, k): v for k, v in cells.items()}


def bind(columns: list[str], column_map: dict[str, str], site: str, name: str) -> BoundColumns:
    """Bind the mapping to the delivery's columns; missing required or duplicated columns reject it."""
    keys = [header_key(c) for c in columns]
    dupes = sorted(k for k, n in Counter(keys).items() if n > 1 and k)
    if dupes:
        raise DeliveryError(site, name, "duplicate-columns", "columns named twice: " + ", ".join(dupes), row=1)
    position = {k: i for i, k in enumerate(keys)}
    rename: dict[str, str] = {}
    missing = []
    for fld, column in column_map.items():
        i = position.get(header_key(column))
        if i is None:
            if fld in REQUIRED_FIELDS:
                missing.append(column)
            continue
        rename[columns[i]] = SOURCE_HEADERS[fld]
    if missing:
        raise DeliveryError(site, name, "missing-columns", "missing: " + ", ".join(missing), row=1)
    targets = set(rename.values())
    for c in columns:
        if c not in rename:
            # an unmapped column named like a canonical header would shadow the mapped one
            rename[c] = f"~{c}" if c in targets else c
    return BoundColumns(rename)


def extra_columns(bound: BoundColumns) -> list[str]:
    """Columns the mapping does not use (kept in the raw record, reported once)."""
    canonical = set(SOURCE_HEADERS.values())
    return [k for k, v in bound.rename.items() if v not in canonical]
