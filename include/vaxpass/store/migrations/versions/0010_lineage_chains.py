"""One lineage row per certificate: `lineage_chains` replaces `lineage_links`

A chain is written once, at issuance, and always read whole (the explorer, `vaxpass lineage`, the completeness
check), yet each of its nine or ten links was a row of its own, with an entry in the unique
`(certificate_id, kind, ref)` index and a foreign-key check: about 16 µs of PostgreSQL's time per link, a tenth
of issuance's server time. `lineage_chains` holds each certificate's links as one JSON list of
`{"kind", "ref", "detail"}`, in the order they were written. The links move over, each chain in its links'
order; on PostgreSQL the list is compressed with lz4 where the server has it (a chain is 2-3 KB of JSON, past
the size at which PostgreSQL compresses a row; lz4 costs a fraction of the default pglz's CPU).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 01:40:00
"""

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_BATCH = 2_000

_links = sa.table('lineage_links', sa.column('id', sa.Integer()), sa.column('certificate_id', sa.Integer()),
                  sa.column('kind', sa.String()), sa.column('ref', sa.String()), sa.column('detail', sa.JSON()))
_chains = sa.table('lineage_chains', sa.column('certificate_id', sa.Integer()), sa.column('links', sa.JSON()))


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def upgrade() -> None:
    op.create_table('lineage_chains',
    sa.Column('certificate_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], ),
    sa.PrimaryKeyConstraint('certificate_id')
    )
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql' and bind.execute(sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")).scalar():
        op.execute("ALTER TABLE lineage_chains ALTER COLUMN links SET COMPRESSION lz4")
    links = bind.execute(sa.select(_links.c.certificate_id, _links.c.kind, _links.c.ref, _links.c.detail)
                         .order_by(_links.c.certificate_id, _links.c.id), execution_options={"stream_results": True})
    chains = ({"certificate_id": cert_id, "links": [{"kind": k, "ref": r, "detail": d} for _, k, r, d in rows]}
              for cert_id, rows in groupby(links, key=lambda row: row[0]))
    for batch in _batches(chains):
        bind.execute(_chains.insert(), batch)
    op.drop_table('lineage_links')


def downgrade() -> None:
    op.create_table('lineage_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=250), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('certificate_id', 'kind', 'ref')
    )
    bind = op.get_bind()
    chains = bind.execute(sa.select(_chains.c.certificate_id, _chains.c.links)
                          .order_by(_chains.c.certificate_id), execution_options={"stream_results": True})
    links = ({"certificate_id": cert_id, "kind": link["kind"], "ref": link["ref"], "detail": link["detail"]}
             for cert_id, chain in chains for link in chain)
    for batch in _batches(links):
        bind.execute(_links.insert(), batch)
    op.drop_table('lineage_chains')
