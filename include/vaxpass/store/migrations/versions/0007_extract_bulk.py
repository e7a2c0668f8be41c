"""extract bulk: fewer index writes per extracted row

`dose_records.cycle_id` and `raw_records.landed_file_id` lose their indexes (nothing looks rows up by them: a
raw record is reached from its dose record, a cycle's records by status); `person_id` and `passport_no` get
partial indexes (IS NOT NULL), since extraction writes records without a person and mostly without a passport
number. Every extracted row then updates three secondary indexes instead of six.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_PARTIAL = {'ix_dose_records_person': 'person_id', 'ix_dose_records_passport_no': 'passport_no'}


def upgrade() -> None:
    with op.batch_alter_table('dose_records', schema=None) as batch_op:
        batch_op.drop_index('ix_dose_records_cycle_id')
        for name, column in _PARTIAL.items():
            batch_op.drop_index(name)
            where = sa.text(f'{column} IS NOT NULL')
            batch_op.create_index(name, [column], unique=False, sqlite_where=where, postgresql_where=where)
    with op.batch_alter_table('raw_records', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_records_landed_file_id')


def downgrade() -> None:
    with op.batch_alter_table('raw_records', schema=None) as batch_op:
        batch_op.create_index('ix_raw_records_landed_file_id', ['landed_file_id'], unique=False)
    with op.batch_alter_table('dose_records', schema=None) as batch_op:
        for name, column in _PARTIAL.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [column], unique=False)
        batch_op.create_index('ix_dose_records_cycle_id', ['cycle_id'], unique=False)
