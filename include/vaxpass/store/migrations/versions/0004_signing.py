"""signing: facility confirmations with per-record inclusion proofs, certificate revocation, key status

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:45:00

The `confirmations` table of 0001 was never written to; it is rebuilt with a `sequence` per (cycle, site) (a
site signs one list before `issue_clean` and one before `issue_reviewed`) and the signed PDF.
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _confirmations(*extra: sa.Column, unique: tuple[str, ...]) -> None:
    op.create_table('confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.String(length=250), nullable=False),
    sa.Column('site_code', sa.String(length=32), nullable=False),
    *extra,
    sa.Column('signer_kid', sa.String(length=16), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('merkle_root', sa.String(length=64), nullable=True),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], ),
    sa.ForeignKeyConstraint(['signer_kid'], ['signing_keys.kid'], ),
    sa.ForeignKeyConstraint(['site_code'], ['sites.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint(*unique)
    )


def upgrade() -> None:
    op.drop_table('confirmations')
    _confirmations(sa.Column('sequence', sa.Integer(), nullable=False),
                   sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
                   sa.Column('document', sa.LargeBinary(), nullable=True),
                   unique=('cycle_id', 'site_code', 'sequence'))
    op.create_table('confirmation_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('confirmation_id', sa.Integer(), nullable=False),
    sa.Column('dose_record_id', sa.Integer(), nullable=False),
    sa.Column('leaf_index', sa.Integer(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('proof', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['confirmation_id'], ['confirmations.id'], ),
    sa.ForeignKeyConstraint(['dose_record_id'], ['dose_records.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('confirmation_id', 'leaf_index'),
    sa.UniqueConstraint('dose_record_id')
    )
    with op.batch_alter_table('confirmation_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_items_confirmation_id'), ['confirmation_id'],
                              unique=False)
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revocation_reason', sa.String(length=32), nullable=True))
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_column('status_changed_at')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('revocation_reason')
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('confirmation_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmation_items_confirmation_id'))
    op.drop_table('confirmation_items')
    op.drop_table('confirmations')
    _confirmations(unique=('cycle_id', 'site_code'))
