"""`refresh_statistics`: PostgreSQL tables whose rows changed past autovacuum's threshold are analysed before a
stage reads them (the server here runs with autovacuum off); fresh ones, other databases and a table another
task is analysing are left alone."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from vaxpass.store.statistics import refresh_statistics


def _changed_rows_counted(url: str, table: str) -> None:
    """Wait until the server's statistics collector shows the writes (a backend reports them when it ends)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        for _ in range(100):
            if conn.scalar(text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                           {"t": table}):
                break
            time.sleep(0.1)
    engine.dispose()


def _last_analyze(url: str, table: str) -> object:
    engine = create_engine(url)
    with engine.connect() as conn:
        value = conn.scalar(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table})
    engine.dispose()
    return value


def test_stale_tables_are_analysed_once(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    writer = create_engine(url)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE loaded (id int PRIMARY KEY, v text)")
        conn.exec_driver_sql("CREATE TABLE small (id int PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO loaded SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        conn.exec_driver_sql("INSERT INTO small SELECT g FROM generate_series(1, 10) g")  # under the threshold
    writer.dispose()
    _changed_rows_counted(url, "loaded")
    assert _last_analyze(url, "loaded") is None
    assert refresh_statistics(url, ["loaded", "small", "no_such_table"]) == ["loaded"]
    assert _last_analyze(url, "loaded") is not None
    assert refresh_statistics(url, ["loaded", "small"]) == []  # fresh now


def test_a_table_being_analysed_elsewhere_is_skipped(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    writer = create_engine(url)
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE loaded (id int PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO loaded SELECT g FROM generate_series(1, 5000) g")
    writer.dispose()
    _changed_rows_counted(url, "loaded")
    other = create_engine(url)
    with other.connect() as conn:  # another task of the stage holds the table's lock
        assert conn.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                           {"k": zlib.crc32(b"vaxpass-analyze:loaded")})
        assert refresh_statistics(url, ["loaded"]) == []
        conn.scalar(text("SELECT pg_advisory_unlock_all()"))
    other.dispose()
    assert refresh_statistics(url, ["loaded"]) == ["loaded"]


def test_nothing_to_do_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE loaded (id int PRIMARY KEY)")
    engine.dispose()
    assert refresh_statistics(url, ["loaded"]) == []
