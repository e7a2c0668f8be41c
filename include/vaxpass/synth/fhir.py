"""Dose rows as FHIR R4 resources: a Patient and an Immunization per row, in searchset Bundle pages.

Used by synth for the sites that deliver by FHIR (pages written to the site's feed folder) and by the tests'
HTTP server. Values a site typed wrongly stay wrong: a date that is not dd/mm/yyyy is carried as typed, a
dose that is not a number as `doseNumberString`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_DMY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
GENDER = {"Nam": "male", "Nữ": "female"}


def _iso(text: str) -> str:
    m = _DMY.match(text)
    return f"{m[3]}-{m[2]}-{m[1]}" if m else text


def resources(row: Sequence[str], last_updated: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Patient, Immunization) of one row in `SOURCE_HEADERS` order."""
    key, name, dob, sex, nid, phone, vaccine, dose, vdate, lot, nationality, passport = row
    identifiers = ([{"system": "urn:vn:cccd", "value": nid}] if nid else []) + (
        [{"system": "urn:vn:passport", "value": passport}] if passport else [])
    patient: dict[str, Any] = {"resourceType": "Patient", "id": f"P-{key}", "identifier": identifiers,
                               "name": [{"text": name}], "birthDate": _iso(dob),
                               "address": [{"country": nationality}]}
    if sex in GENDER:
        patient["gender"] = GENDER[sex]
    if phone:
        patient["telecom"] = [{"system": "phone", "value": phone}]
    protocol: dict[str, Any] = {"doseNumberPositiveInt": int(dose)} if dose.isdigit() and int(dose) > 0 else {
        "doseNumberString": dose}
    imm = {"resourceType": "Immunization", "id": key, "meta": {"lastUpdated": last_updated},
           "identifier": [{"system": "urn:vn:vaxpass:dose", "value": key}], "status": "completed",
           "vaccineCode": {"text": vaccine}, "patient": {"reference": f"Patient/P-{key}"},
           "occurrenceDateTime": _iso(vdate), "lotNumber": lot, "protocolApplied": [protocol]}
    return patient, imm


def bundle(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], *, self_url: str = "",
           next_url: str | None = None) -> dict[str, Any]:
    """A searchset page: each Immunization (`match`) followed by its Patient (`include`)."""
    links = [{"relation": "self", "url": self_url}] + ([{"relation": "next", "url": next_url}] if next_url else [])
    entries = []
    for patient, imm in pairs:
        entries.append({"fullUrl": f"Immunization/{imm['id']}", "resource": imm, "search": {"mode": "match"}})
        entries.append({"fullUrl": f"Patient/{patient['id']}", "resource": patient, "search": {"mode": "include"}})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
