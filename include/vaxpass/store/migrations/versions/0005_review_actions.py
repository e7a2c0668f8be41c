"""review: per-record reviewer actions (accept a candidate, correct, reject) with who, when, before and after

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('dose_record_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('registry_id', sa.Integer(), nullable=True),
        sa.Column('reason_code', sa.String(length=32), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('after', sa.JSON(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('acted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=64), nullable=True),
        sa.Column('new_dose_record_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['batch_id'], ['review_batches.id']),
        sa.ForeignKeyConstraint(['dose_record_id'], ['dose_records.id']),
        sa.ForeignKeyConstraint(['item_id'], ['review_items.id']),
        sa.ForeignKeyConstraint(['new_dose_record_id'], ['dose_records.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('review_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_actions_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_actions_dose_record_id'), ['dose_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_actions_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_actions_new_dose_record_id'), ['new_dose_record_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('review_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_actions_new_dose_record_id'))
        batch_op.drop_index(batch_op.f('ix_review_actions_item_id'))
        batch_op.drop_index(batch_op.f('ix_review_actions_dose_record_id'))
        batch_op.drop_index(batch_op.f('ix_review_actions_batch_id'))
    op.drop_table('review_actions')
