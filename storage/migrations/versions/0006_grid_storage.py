"""Grid arrays stored as they come; indexes that only repeated a unique key's first column gone

On PostgreSQL a day grid row (~1.6 KB for a minute grid, more with posture arrays or busy
days) can pass the ~2 KB at which the server tries to compress long values. Inserting
minute grids of busy days, pglz took 37 % of the server's samples (perf), failing to
compress arrays that are compressed already. Rows now stay in the page up to 8,160 bytes
(toast_tuple_target) and the arrays are never compressed again (storage EXTERNAL: a longer
row moves them out of line as they are). Measured on those rows: 55 -> 32.5 us of server
CPU per grid row inserted.

ix_day_grids_patient_id and ix_daily_summaries_patient_id duplicated the leading column of
the tables' unique keys, which serve every lookup by patient; no query reads day_grids by
date alone (ix_day_grids_local_date). Each cost an index entry per row written.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ARRAYS = ('steps', 'worn', 'sedentary_s', 'upright_s', 'stepping_s')


def upgrade() -> None:
    with op.batch_alter_table('day_grids') as batch:
        batch.drop_index(batch.f('ix_day_grids_patient_id'))
        batch.drop_index(batch.f('ix_day_grids_local_date'))
    with op.batch_alter_table('daily_summaries') as batch:
        batch.drop_index(batch.f('ix_daily_summaries_patient_id'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE day_grids SET (toast_tuple_target = 8160)')
        for name in ARRAYS:
            op.execute(f'ALTER TABLE day_grids ALTER COLUMN {name} SET STORAGE EXTERNAL')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in ARRAYS:
            op.execute(f'ALTER TABLE day_grids ALTER COLUMN {name} SET STORAGE EXTENDED')
        op.execute('ALTER TABLE day_grids RESET (toast_tuple_target)')
    with op.batch_alter_table('daily_summaries') as batch:
        batch.create_index(batch.f('ix_daily_summaries_patient_id'), ['patient_id'])
    with op.batch_alter_table('day_grids') as batch:
        batch.create_index(batch.f('ix_day_grids_local_date'), ['local_date'])
        batch.create_index(batch.f('ix_day_grids_patient_id'), ['patient_id'])
