"""Extraction throughput against plain pandas on the same data in the same run.

    python -m bench.extract_throughput --rows 1000000 [--store sqlite|postgresql|both]

CSV: `extract_site` on one inbox file (landing copy, raw records with content hashes, versioned dose records in
a fresh ops store) vs `pandas.read_csv` of the same file. PostgreSQL source: `extract_site` of a `sql` site
(keyset-paged query on the watermark, NDJSON landing, the same writes) vs `pandas.read_sql` of the same table.
Each is run once per ops store (the embedded mode's SQLite file, production's PostgreSQL database); the baseline
is timed right before each run. Writes `bench/results/extract-<rows>.json` and `bench/results/extract_throughput.md`
with rows per second and the ratio ours / baseline (goal ≥ 0.5).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import create_engine, text

from vaxpass.domain import SOURCE_HEADERS, SiteConfig, SourceConfig
from vaxpass.extract import extract_site
from vaxpass.store import migrate, session_scope
from vaxpass.store.models import Cycle, Site

RESULTS = Path(__file__).parent / "results"
NAMES = ["Nguyễn Văn An", "Trần Thị Đào", "Lê Hoàng Hòa", "Phạm Thu Thủy", "Hoàng Minh Đức", "Vũ Thị Lan"]
VACCINES = ["AstraZeneca", "Pfizer", "Vero Cell", "Moderna", "Spikevax"]
SQL_COLUMNS = ["ma_mui_tiem", "ho_ten", "ngay_sinh", "gioi_tinh", "so_cccd", "so_dien_thoai", "ten_vac_xin",
               "mui_tiem", "ngay_tiem", "so_lo", "quoc_tich", "so_ho_chieu"]


def rows(n: int) -> list[tuple[str, ...]]:
    day0 = date(2021, 7, 1)
    out = []
    for i in range(n):
        dob = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
        out.append((f"K{i:08d}", NAMES[i % len(NAMES)], dob.strftime("%d/%m/%Y"), "Nam" if i % 2 else "Nữ",
                    f"001{i % 4}{dob.year % 100:02d}{i % 1_000_000:06d}", f"09{i % 100_000_000:08d}",
                    VACCINES[i % len(VACCINES)], str(1 + i % 3), (day0 + timedelta(days=i % 300)).strftime("%d/%m/%Y"),
                    f"L{i % 997:04d}", "VN", ""))
    return out


class Databases:
    """Scratch PostgreSQL databases on the server of `admin_url`, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url, self.names = admin_url, list[str]()

    def create(self, prefix: str) -> str:
        name = f"vaxpass_bench_{prefix}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.names.append(name)
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop(self) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store(tmp: Path, site: SiteConfig, kind: str, dbs: Databases) -> str:
    if kind == "postgresql":
        url = dbs.create("ops")
    else:
        url = f"sqlite:///{tmp / f'ops-{uuid.uuid4().hex[:6]}.sqlite'}"
    migrate(url)
    with session_scope(url) as session:
        session.add(Site(code=site.code, name=site.name, district_code="001", district_name="Ba Đình",
                         head_of_facility="x", source_kind=site.source.kind, source_path=site.source.path,
                         config_hash="bench"))
        session.add(Cycle(id="bench", run_date=date(2026, 1, 1), run_after=datetime(2026, 1, 1, tzinfo=UTC),
                          dag_id="bench", status="running", stats={}))
    return url


class Timing(NamedTuple):
    seconds: float  # wall clock: what the goal is about
    cpu: float  # this process's CPU time (all threads): on a loaded machine, the part that is ours


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Timing, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    return Timing(time.perf_counter() - start, time.process_time() - cpu), value


def entry(n: int, ours: Timing, baseline: Timing, name: str) -> dict[str, Any]:
    return {"rows": n, "seconds": round(ours.seconds, 3), "rows_per_s": round(n / ours.seconds), "baseline": name,
            "baseline_seconds": round(baseline.seconds, 3), "baseline_rows_per_s": round(n / baseline.seconds),
            "ratio": round(baseline.seconds / ours.seconds, 3), "cpu_seconds": round(ours.cpu, 3),
            "baseline_cpu_seconds": round(baseline.cpu, 3), "cpu_ratio": round(baseline.cpu / ours.cpu, 3)}


def bench_csv(tmp: Path, data: list[tuple[str, ...]], stores: list[str], dbs: Databases) -> dict[str, Any]:
    site = SiteConfig("HN-001-01", "bench csv", "001", "Ba Đình", "x", SourceConfig(kind="csv", path="inbox/a",
                                                                                     options={"max_file_mb": 4096}))
    path = tmp / "data/inbox/a/doses.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SOURCE_HEADERS.values())
        w.writerows(data)
    out = {}
    for kind in stores:
        baseline, _ = timed(pd.read_csv, path, dtype=str, keep_default_na=False)
        url = store(tmp, site, kind, dbs)
        ours, summary = timed(extract_site, url, cycle_id="bench", site=site, data_dir=tmp / "data",
                              landing_dir=tmp / f"landing-csv-{kind}")
        assert summary.rows_new == len(data), summary.problems[:3]
        out[kind] = entry(len(data), ours, baseline, "pandas.read_csv(dtype=str)")
    return out


def bench_postgres(tmp: Path, data: list[tuple[str, ...]], stores: list[str], dbs: Databases) -> dict[str, Any]:
    url = dbs.create("site")
    out = {}
    engine = create_engine(url)
    with engine.begin() as conn:
        cols = ", ".join(f"{c} TEXT" for c in SQL_COLUMNS)
        conn.execute(text(f"CREATE TABLE tiem_chung ({cols}, cap_nhat TIMESTAMPTZ NOT NULL)"))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(r + ("2022-06-30T18:00:00+07:00",) for r in data)
        buf.seek(0)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cur.copy_expert("COPY tiem_chung FROM STDIN WITH (FORMAT csv)", buf)
        conn.execute(text("CREATE INDEX tiem_chung_wm ON tiem_chung (cap_nhat, ma_mui_tiem)"))
        conn.execute(text("ANALYZE tiem_chung"))
    site = SiteConfig("HN-001-02", "bench sql", "001", "Ba Đình", "x", SourceConfig(
        kind="sql", conn_id="site_db", column_map=dict(zip(SOURCE_HEADERS, SQL_COLUMNS, strict=True)),
        options={"table": "tiem_chung", "watermark_column": "cap_nhat", "chunk_rows": 20_000}))
    for kind in stores:
        baseline, _ = timed(pd.read_sql, "SELECT * FROM tiem_chung", engine)
        ops = store(tmp, site, kind, dbs)
        ours, summary = timed(extract_site, ops, cycle_id="bench", site=site, data_dir=tmp / "data",
                              landing_dir=tmp / f"landing-sql-{kind}", connections=lambda _: url)
        assert summary.rows_new == len(data), summary.problems[:3]
        out[kind] = entry(len(data), ours, baseline, "pandas.read_sql (SQLAlchemy, psycopg2)")
    engine.dispose()
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Extraction of {result['rows']:,} rows, `python -m bench.extract_throughput --rows {result['rows']}`"
             f" ({result['machine']}).", "",
             "| source | ops store | vaxpass rows/s | baseline | baseline rows/s | ratio (goal ≥ 0.5) "
             "| CPU s, ours / baseline | CPU ratio |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for source in ("csv", "postgresql"):
        for kind, e in result[source].items():
            lines.append(f"| {source} | {kind} | {e['rows_per_s']:,} | {e['baseline']} | "
                         f"{e['baseline_rows_per_s']:,} | {e['ratio']:.2f} | "
                         f"{e['cpu_seconds']:.2f} / {e['baseline_cpu_seconds']:.2f} | {e['cpu_ratio']:.2f} |")
    lines += ["", "CPU: this process's CPU time (every thread), less sensitive to other jobs on the machine than the "
              "wall clock; it leaves out the database servers' work (PostgreSQL's side of `read_sql`, the source "
              "query, and the COPY into a PostgreSQL ops store), so its ratio means most for the SQLite store."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both",
                        help="the ops store(s) to extract into")
    args = parser.parse_args()
    stores = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    data = rows(args.rows)
    dbs = Databases(args.pg_url)
    load = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = {"rows": args.rows, "csv": bench_csv(Path(tmp), data, stores, dbs),
                      "postgresql": bench_postgres(Path(tmp), data, stores, dbs)}
            result |= {"machine": f"{os.cpu_count()} CPU cores, load average {load:.1f} at the start and "
                                  f"{os.getloadavg()[0]:.1f} at the end",
                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    finally:
        dbs.drop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"extract-{args.rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "extract_throughput.md").write_text(markdown(result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
