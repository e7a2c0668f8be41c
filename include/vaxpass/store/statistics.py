"""Planner statistics after bulk writes (PostgreSQL).

A stage reads what the previous one wrote minutes before: a backfill's extraction loads the dose records, and
validation and matching rewrite every one of them. PostgreSQL plans by statistics that only ANALYZE (or
autovacuum, a minute or more later, or never where it is off) brings up to date; on tables it had never
analysed it guessed the chunk of 2,000 persons issuance reads to be the whole table, and scanned 259 k dose
records and 96 k certificates for every chunk (218 and 78 ms a chunk instead of 17 and 9, growing with the
store). So a stage first analyses the tables it reads by whose rows changed past autovacuum's own analyze
threshold (50 rows + 10 %), once however many parallel tasks of the stage start together.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from sqlalchemy import text

from vaxpass.store.db import engine_for

# autovacuum's defaults: analyse a table once this many rows plus this share of it changed since the last time
ANALYZE_THRESHOLD, ANALYZE_SCALE_FACTOR = 50, 0.1

_STALE = text("SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
              "AND relname = ANY(:tables) AND n_mod_since_analyze > :threshold + :scale * n_live_tup "
              "ORDER BY relname")


def refresh_statistics(db_url: str, tables: Sequence[str]) -> list[str]:
    """ANALYZE those of `tables` whose statistics are stale (PostgreSQL; elsewhere nothing); returns their
    names. Each runs in a transaction of its own, under an advisory lock per table that a concurrent task of the
    same stage skips rather than waits for (then it plans with the old statistics, as it would have anyway)."""
    engine = engine_for(db_url)
    if engine.dialect.name != "postgresql":
        return []
    analysed = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        stale = list(conn.scalars(_STALE, {"tables": list(tables), "threshold": ANALYZE_THRESHOLD,
                                           "scale": ANALYZE_SCALE_FACTOR}))
        for name in stale:
            key = zlib.crc32(f"vaxpass-analyze:{name}".encode())
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                continue
            try:
                if conn.scalar(_STALE, {"tables": [name], "threshold": ANALYZE_THRESHOLD,
                                        "scale": ANALYZE_SCALE_FACTOR}) is not None:  # not analysed meanwhile
                    conn.exec_driver_sql(f'ANALYZE "{name}"')
                    analysed.append(name)
            finally:
                conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    return analysed
