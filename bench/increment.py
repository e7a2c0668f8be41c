"""A nightly increment on top of a backfill, made from one synthetic data set.

`hold_back` takes the last rows of every CSV inbox file and every SQL site table out of the set (about
`rows` in all) before the backfill; `release` puts them back as the next night's deliveries: a new CSV file
in the site's inbox (same encoding) and rows with a later watermark in the site's database. Held-back doses
belong to persons whose earlier doses are in the backfill, so the increment re-issues certificates as a real
night does.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

ENCODINGS = ("utf-8-sig", "utf-16", "cp1258")
NEXT_NIGHT = "2022-07-01 18:00:00"


def _decode(raw: bytes) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("undecodable CSV")


def _csv_files(data: Path, sites: list[dict[str, Any]]) -> list[Path]:
    return [f for s in sites if s["source"]["kind"] in ("inbox", "csv")
            for f in sorted((data / s["source"]["path"]).glob("*.csv"))]


def _sql_sites(data: Path, sites: list[dict[str, Any]]) -> list[tuple[Path, str]]:
    return [(data / s["source"]["path"], s["source"]["options"]["table"]) for s in sites
            if s["source"]["kind"] == "sql" and s["source"].get("path")]


def hold_back(data: Path, rows: int) -> int:
    """Take about `rows` rows out of the CSV and SQL sites (the same share of each); returns how many."""
    sites = json.loads((data / "sites.json").read_text())
    csvs, sqls = _csv_files(data, sites), _sql_sites(data, sites)
    total = sum(len(_decode(f.read_bytes())[0].splitlines()) - 1 for f in csvs)
    for path, table in sqls:
        with sqlite3.connect(path) as con:
            total += con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    share = min(1.0, rows / total) if total else 0.0
    held = 0
    for f in csvs:
        text, encoding = _decode(f.read_bytes())
        lines = text.splitlines(keepends=True)
        k = int((len(lines) - 1) * share)
        if k:
            f.write_bytes("".join(lines[:-k]).encode(encoding))
            (f.parent / ".held").mkdir(exist_ok=True)
            (f.parent / ".held" / f.name).write_bytes("".join(lines[:1] + lines[-k:]).encode(encoding))
            held += k
    for path, table in sqls:
        with sqlite3.connect(path) as con:
            n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            k = int(n * share)
            con.execute(f"CREATE TABLE held AS SELECT * FROM {table} ORDER BY cap_nhat_luc DESC, "  # noqa: S608
                        f"rowid DESC LIMIT {k}")
            con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "  # noqa: S608
                        f"ORDER BY cap_nhat_luc DESC, rowid DESC LIMIT {k})")
            held += k
    return held


def release(data: Path) -> int:
    """The held-back rows arrive as the next night's deliveries; returns how many."""
    sites = json.loads((data / "sites.json").read_text())
    released = 0
    for s in sites:
        if s["source"]["kind"] not in ("inbox", "csv"):
            continue
        held = data / s["source"]["path"] / ".held"
        for f in sorted(held.glob("*.csv")) if held.is_dir() else []:
            raw = f.read_bytes()
            released += len(_decode(raw)[0].splitlines()) - 1
            (held.parent / f"{f.stem}_night2.csv").write_bytes(raw)
            f.unlink()
        if held.is_dir():
            held.rmdir()
    for path, table in _sql_sites(data, sites):
        with sqlite3.connect(path) as con:
            if con.execute("SELECT name FROM sqlite_master WHERE name = 'held'").fetchone():
                released += con.execute("SELECT count(*) FROM held").fetchone()[0]
                con.execute("UPDATE held SET cap_nhat_luc = ?", (NEXT_NIGHT,))
                con.execute(f"INSERT INTO {table} SELECT * FROM held")  # noqa: S608
                con.execute("DROP TABLE held")
    return released
