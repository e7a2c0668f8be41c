"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from vaxpass.store import migrate
from vaxpass.store.db import alembic_config
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
    assert {"dose_records", "certificates", "lineage_chains", "vaxpass_alembic_version"} <= tables


@pytest.mark.postgres
def test_postgres_schema_matches_models(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    migrate(url)
    assert _diff(url) == []


def test_lineage_links_move_into_one_chain_per_certificate_and_back(tmp_path: Path) -> None:
    """Migration 0010 gathers each certificate's `lineage_links` rows into its `lineage_chains` row, in the
    order they were written (by id, whatever the certificates' order), and its downgrade splits them again."""
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    command.upgrade(alembic_config(url), "0009")
    links = [(1, 9, "source_row", "raw_record:5", {"row": 4, "site": "HN-001-01"}),
             (2, 8, "source_row", "raw_record:6", {"row": 5}),
             (3, 9, "match", "match_decision:2", {"outcome": "REVIEW", "evidence": {"name": 0.9}}),
             (4, 9, "extraction", "extraction_run:1", {"cycle": "c1"})]
    engine = create_engine(url)  # no foreign keys enforced: the certificates need not exist for this
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lineage_links (id, certificate_id, kind, ref, detail) "
                          "VALUES (:id, :cert, :kind, :ref, :detail)"),
                     [{"id": i, "cert": c, "kind": k, "ref": r, "detail": json.dumps(d)} for i, c, k, r, d in links])
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        chains = {cert: json.loads(doc) for cert, doc in conn.execute(
            text("SELECT certificate_id, links FROM lineage_chains"))}
    assert chains == {cert: [{"kind": k, "ref": r, "detail": d} for _, c, k, r, d in links if c == cert]
                      for cert in (8, 9)}
    command.downgrade(alembic_config(url), "0009")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT certificate_id, kind, ref, detail FROM lineage_links ORDER BY id")).all()
    engine.dispose()
    # each chain's links in their order, the chains by certificate
    assert [(c, k, r, json.loads(d)) for c, k, r, d in back] == [
        (c, k, r, d) for _, c, k, r, d in sorted(links, key=lambda link: link[1])]
