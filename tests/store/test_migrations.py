"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from vaxpass.store import migrate
from vaxpass.store.models import Base


def _diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "vaxpass_alembic_version"})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_sqlite_schema_matches_models_and_migrate_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    migrate(url)
    migrate(url)
    assert _diff(url) == []
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"dose_records", "certificates", "lineage_links", "vaxpass_alembic_version"} <= tables


@pytest.mark.postgres
def test_postgres_schema_matches_models(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    migrate(url)
    assert _diff(url) == []
