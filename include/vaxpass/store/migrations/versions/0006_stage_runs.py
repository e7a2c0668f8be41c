"""stage_runs: when each stage of a cycle started and finished (the run history dashboard's durations)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stage_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cycle_id', sa.String(length=250), nullable=False),
        sa.Column('stage', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('cycle_id', 'stage', 'key'),
    )


def downgrade() -> None:
    op.drop_table('stage_runs')
