"""patients, sources, uploads, day grids, summaries

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa
import storage.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patients',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('procedure', sa.String(length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('created_at', storage.tables.UTCDateTime(), nullable=False),
    sa.Column('last_sync_at', storage.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_team'), ['team'], unique=False)

    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('grids', sa.Integer(), nullable=False),
    sa.Column('steps', sa.Float(), nullable=False),
    sa.Column('skipped', sa.JSON(), nullable=False),
    sa.Column('received_at', storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploads_sha256'), ['sha256'], unique=False)

    op.create_table('daily_summaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('steps', sa.Float(), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('updated_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'local_date')
    )
    with op.batch_alter_table('daily_summaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_daily_summaries_patient_id'), ['patient_id'], unique=False)

    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('device', sa.String(length=100), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('first_seen', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'key')
    )
    op.create_table('sync_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'at')
    )
    op.create_table('day_grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('resolution_s', sa.Integer(), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('n_slots', sa.Integer(), nullable=False),
    sa.Column('total_steps', sa.Float(), nullable=False),
    sa.Column('steps', sa.LargeBinary(), nullable=False),
    sa.Column('worn', sa.LargeBinary(), nullable=False),
    sa.Column('sedentary_s', sa.LargeBinary(), nullable=True),
    sa.Column('upright_s', sa.LargeBinary(), nullable=True),
    sa.Column('stepping_s', sa.LargeBinary(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=64), nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'source_id', 'local_date', 'resolution_s')
    )
    with op.batch_alter_table('day_grids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_day_grids_local_date'), ['local_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_day_grids_patient_id'), ['patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('day_grids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_day_grids_patient_id'))
        batch_op.drop_index(batch_op.f('ix_day_grids_local_date'))

    op.drop_table('day_grids')
    op.drop_table('sync_events')
    op.drop_table('sources')
    with op.batch_alter_table('daily_summaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daily_summaries_patient_id'))

    op.drop_table('daily_summaries')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_sha256'))
        batch_op.drop_index(batch_op.f('ix_uploads_patient_id'))

    op.drop_table('uploads')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_team'))

    op.drop_table('patients')
