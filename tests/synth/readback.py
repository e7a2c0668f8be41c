"""Reading a synthetic data set's site deliveries back as the text rows synth made, whatever each site's source
kind (CSV, workbook, SQLite database, FHIR pages) — so the tests compare every kind with the ground truth."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd

from vaxpass.domain import SOURCE_HEADERS, load_sites
from vaxpass.synth.sources import SQL_COLUMNS, SQL_TABLE

H = list(SOURCE_HEADERS.values())


def _dmy(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%d/%m/%Y")
    except ValueError:
        return text


def _xlsx(path: Path) -> pd.DataFrame:
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    out = [["" if v is None else v.strftime("%d/%m/%Y") if isinstance(v, datetime) else str(v) for v in r]
           for r in rows[1:]]
    return pd.DataFrame(out, columns=[str(h) for h in rows[0]])


def _fhir(folder: Path) -> pd.DataFrame:
    rows = []
    for page in sorted(folder.glob("*.json")):
        entries = json.loads(page.read_text(encoding="utf-8"))["entry"]
        patients = {e["resource"]["id"]: e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient"}
        for e in entries:
            imm = e["resource"]
            if imm["resourceType"] != "Immunization":
                continue
            p = patients[imm["patient"]["reference"].split("/")[1]]
            ids = {i["system"]: i["value"] for i in p.get("identifier", [])}
            proto = imm["protocolApplied"][0]
            rows.append([imm["identifier"][0]["value"], p["name"][0]["text"], _dmy(p["birthDate"]),
                         {"male": "Nam", "female": "Nữ"}[p["gender"]], ids.get("urn:vn:cccd", ""),
                         p.get("telecom", [{}])[0].get("value", ""), imm["vaccineCode"]["text"],
                         str(proto.get("doseNumberPositiveInt", proto.get("doseNumberString", ""))),
                         _dmy(imm["occurrenceDateTime"]), imm["lotNumber"], p["address"][0]["country"],
                         ids.get("urn:vn:passport", "")])
    return pd.DataFrame(rows, columns=H)


def site_rows(out: Path) -> pd.DataFrame:
    """Every row every site delivered, with Vietnamese headers and a `site_code` column."""
    frames = []
    for s in load_sites(out / "sites.json"):
        where = out / s.source.path
        if s.source.kind == "sql":
            with sqlite3.connect(where) as conn:
                df = pd.read_sql(f"SELECT * FROM {SQL_TABLE}", conn).fillna("")
            df = df.rename(columns={v: SOURCE_HEADERS[k] for k, v in SQL_COLUMNS.items()})[H]
            parts = [df]
        elif s.source.kind == "fhir":
            parts = [_fhir(where)]
        else:
            parts = [pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8")
                     for f in sorted(where.glob("*.csv"))] + [_xlsx(f) for f in sorted(where.glob("*.xlsx"))]
        for df in parts:
            assert list(df.columns) == H
            frames.append(df.assign(site_code=s.code))
    return pd.concat(frames, ignore_index=True)
