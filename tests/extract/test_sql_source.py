"""A site's own database read by query with a watermark: SQLite, and the real MariaDB and PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tests.extract.conftest import Env, with_source
from tests.factories import site
from vaxpass.extract.sql_source import parse_lookback
from vaxpass.store import session_scope
from vaxpass.store.models import LandedFile, SourceWatermark

T0 = datetime(2021, 8, 15, 8, 0)
DDL = ("CREATE TABLE doses (ma_mui VARCHAR(40) PRIMARY KEY, ho_ten VARCHAR(200), ngay_sinh DATE, gioi_tinh VARCHAR(8),"
       " cccd VARCHAR(20), vac_xin VARCHAR(100), mui INTEGER, ngay_tiem DATE, so_lo VARCHAR(40),"
       " cap_nhat TIMESTAMP NULL)")
COLUMN_MAP = {"source_key": "ma_mui", "full_name": "ho_ten", "dob": "ngay_sinh", "sex": "gioi_tinh",
              "national_id": "cccd", "vaccine": "vac_xin", "dose_number": "mui", "vaccination_date": "ngay_tiem",
              "lot": "so_lo"}


def _row(key: str, name: str, minutes: int, lot: str = "L1") -> dict[str, object]:
    return {"k": key, "n": name, "dob": datetime(1990, 5, 12).date(), "s": "Nam", "id": "001090000001",
            "v": "AstraZeneca", "d": 1, "day": datetime(2021, 8, 15).date(), "lot": lot,
            "t": T0 + timedelta(minutes=minutes)}


def _insert(url: str, rows: list[dict[str, object]], upsert: bool = False) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        if upsert:
            for r in rows:
                conn.execute(text("DELETE FROM doses WHERE ma_mui = :k"), r)
        conn.execute(text("INSERT INTO doses VALUES (:k, :n, :dob, :s, :id, :v, :d, :day, :lot, :t)"), rows)
    engine.dispose()


def _scenario(tmp_path: Path, url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(DDL))
    engine.dispose()
    s = with_source(site(), kind="sql", conn_id="site_db", column_map=COLUMN_MAP,
                    options={"table": "doses", "watermark_column": "cap_nhat", "chunk_rows": 2})
    env = Env(tmp_path, [s], {"site_db": url})
    # five rows, two sharing a watermark value across a chunk boundary
    _insert(url, [_row("K1", "Nguyễn Văn An", 0), _row("K2", "Trần Thị Đào", 1), _row("K3", "Lê Hoàng Hòa", 2),
                  _row("K4", "Phạm Thu Thủy", 2), _row("K5", "Ngô Minh Tâm", 3)])
    first = env.run(s)
    assert (first.status, first.rows_new, first.files_new) == ("ok", 5, 3), first.problems
    again = env.run(s, cycle_id="cycle-1")
    assert (again.rows_new, again.files_new, again.files_seen) == (0, 0, 0)
    # a new row and a changed row (its watermark moves on): one new record, one new version
    _insert(url, [_row("K6", "Đỗ Văn Bình", 10), _row("K2", "Trần Thị Đào", 11, lot="L2")], upsert=True)
    third = env.run(s)
    assert (third.rows_new, third.files_new) == (2, 1)
    recs = env.records()
    assert [(r.source_key, r.version, r.status) for r in recs] == [
        ("K1", 1, "new"), ("K2", 1, "superseded"), ("K2", 2, "new"), ("K3", 1, "new"), ("K4", 1, "new"),
        ("K5", 1, "new"), ("K6", 1, "new")]
    assert recs[0].full_name == "Nguyễn Văn An" and recs[0].dob == datetime(1990, 5, 12).date()
    assert recs[2].lot == "L2" and recs[0].dose_number == 1
    with session_scope(env.url) as session:
        landed = session.scalars(select(LandedFile)).all()
        mark = session.get(SourceWatermark, s.code)
    assert {f.delivery_kind for f in landed} == {"query"} and all(f.landed_path.endswith(".ndjson") for f in landed)
    assert b"\xe1\xbb\x85" in Path(landed[0].landed_path).read_bytes()  # "ễ" as UTF-8 in the landed document
    assert mark is not None and mark.value["key"] == {"type": "str", "value": "K2"}


def test_sqlite_site_database(tmp_path: Path) -> None:
    _scenario(tmp_path, f"sqlite:///{tmp_path / 'site.sqlite'}")


@pytest.mark.postgres
def test_postgresql_site_database(tmp_path: Path, pg_databases: Callable[[], str]) -> None:
    _scenario(tmp_path, pg_databases())


def test_mariadb_site_database(tmp_path: Path, mariadb_databases: Callable[[], str]) -> None:
    _scenario(tmp_path, mariadb_databases())


def test_sqlite_file_in_the_data_dir_needs_no_connection(tmp_path: Path) -> None:
    s = with_source(site(), kind="sql", path="sites/db.sqlite", column_map=COLUMN_MAP,
                    options={"table": "doses", "watermark_column": "cap_nhat"})
    env = Env(tmp_path, [s])
    (env.data / "sites").mkdir(parents=True)
    url = f"sqlite:///{env.data / 'sites/db.sqlite'}"
    create_engine(url).connect().execute(text(DDL)).close()
    _insert(url, [_row("K1", "Nguyễn Văn An", 0)])
    assert env.run(s).rows_new == 1


def test_unreachable_database_fails_the_site_with_its_reason(tmp_path: Path) -> None:
    s = with_source(site(), kind="sql", conn_id="down", column_map=COLUMN_MAP, options={"table": "doses"})
    env = Env(tmp_path, [s], {"down": "postgresql+psycopg2://postgres@127.0.0.1:1/none?connect_timeout=2"})
    summary = env.run(s)
    assert summary.status == "failed" and "database-unreachable" in summary.problems[0]
    assert s.code in summary.problems[0]
    missing = with_source(site(), kind="sql", conn_id="nobody-knows", options={"table": "doses"})
    summary = env.run(missing)
    assert summary.status == "failed" and "connection-unresolved" in summary.problems[0]


def test_null_watermarks_are_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'site.sqlite'}"
    create_engine(url).connect().execute(text(DDL)).close()
    row = _row("K1", "Nguyễn Văn An", 0)
    _insert(url, [row, {**_row("K2", "Trần Thị Đào", 0), "t": None}])
    s = with_source(site(), kind="sql", conn_id="db", column_map=COLUMN_MAP,
                    options={"table": "doses", "watermark_column": "cap_nhat"})
    summary = Env(tmp_path, [s], {"db": url}).run(s)
    assert summary.rows_new == 1 and summary.reasons.get("null-watermark") == 1


def _lookback_scenario(tmp_path: Path, url: str) -> None:
    """A transaction committed late carries a watermark older than one already read: a look-back window
    re-reads it; unchanged rows in the window are skipped, a changed one becomes a new version, nothing twice."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(DDL))
    engine.dispose()
    options = {"table": "doses", "watermark_column": "cap_nhat", "chunk_rows": 2}
    looking = with_source(site(code="HN-001-01"), kind="sql", conn_id="db", column_map=COLUMN_MAP,
                          options={**options, "lookback": "30m"})
    blind = with_source(site(code="HN-001-02"), kind="sql", conn_id="db", column_map=COLUMN_MAP, options=options)
    env = Env(tmp_path, [looking, blind], {"db": url})
    _insert(url, [_row("K1", "Nguyễn Văn An", 0), _row("K2", "Trần Thị Đào", 5), _row("K3", "Lê Hoàng Hòa", 20)])
    assert env.run(looking).rows_new == 3 and env.run(blind).rows_new == 3
    # committed after that read: a new row stamped 10 minutes before the watermark, and K2 changed in place
    _insert(url, [_row("K4", "Phạm Thu Thủy", 10), _row("K2", "Trần Thị Đào", 5, lot="L9")], upsert=True)
    late = env.run(looking)
    assert (late.status, late.rows_new) == ("ok", 2), late.problems
    assert env.run(blind).rows_new == 0  # without a look-back the late rows are missed
    recs = [(r.source_key, r.version, r.status, r.lot) for r in env.records("HN-001-01")]
    assert recs == [("K1", 1, "new", "L1"), ("K2", 1, "superseded", "L1"), ("K2", 2, "new", "L9"),
                    ("K3", 1, "new", "L1"), ("K4", 1, "new", "L1")]
    again = env.run(looking)
    assert (again.status, again.rows_new) == ("ok", 0)
    assert len(env.records("HN-001-01")) == 5
    with session_scope(env.url) as session:
        mark = session.get(SourceWatermark, "HN-001-01")
    assert mark is not None and mark.value["key"] == {"type": "str", "value": "K3"}  # never moved back


def test_lookback_sqlite(tmp_path: Path) -> None:
    _lookback_scenario(tmp_path, f"sqlite:///{tmp_path / 'site.sqlite'}")


@pytest.mark.postgres
def test_lookback_postgresql(tmp_path: Path, pg_databases: Callable[[], str]) -> None:
    _lookback_scenario(tmp_path, pg_databases())


def test_lookback_mariadb(tmp_path: Path, mariadb_databases: Callable[[], str]) -> None:
    _lookback_scenario(tmp_path, mariadb_databases())


@pytest.mark.parametrize(("value", "minutes"), [("30m", 30), ("2h", 120), ("1d", 1440), (15, 15), ("90s", 1.5),
                                                 (None, None)])
def test_parse_lookback(value: object, minutes: float | None) -> None:
    got = parse_lookback(value)
    assert (got.total_seconds() / 60 if got else None) == minutes


def test_bad_lookback_fails_the_site_with_its_reason(tmp_path: Path) -> None:
    s = with_source(site(), kind="sql", conn_id="db", column_map=COLUMN_MAP,
                    options={"table": "doses", "lookback": "soon"})
    summary = Env(tmp_path, [s], {"db": f"sqlite:///{tmp_path / 'x.sqlite'}"}).run(s)
    assert summary.status == "failed" and "bad-lookback" in summary.problems[0]
