"""Indexes for the incremental paths: a site's records by status, a matched person by national ID

`dose_records (status, site_code)` replaces `(status)` (same leftmost column, so every status-only query keeps
it): validation and confirmation read one site's `new` / `matched` records without walking every site's.
`persons (national_id)`: the dose-history rules look up the records of persons matched to a batch's IDs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dose_records', schema=None) as batch_op:
        batch_op.drop_index('ix_dose_records_status')
        batch_op.create_index('ix_dose_records_status_site', ['status', 'site_code'], unique=False)
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index('ix_persons_national_id', ['national_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_national_id')
    with op.batch_alter_table('dose_records', schema=None) as batch_op:
        batch_op.drop_index('ix_dose_records_status_site')
        batch_op.create_index('ix_dose_records_status', ['status'], unique=False)
