"""Staff users and their teams, API tokens, staff sessions, failed sign-ins, the audit trail,
alert assignments

The audit table is append-only: besides the application having no update or delete path,
the database refuses UPDATE and DELETE on it (a trigger on SQLite and on PostgreSQL).

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

import storage.tables

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UTC = storage.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(64), nullable=False, unique=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('disabled_at', UTC(), nullable=True),
        sa.Column('created_at', UTC(), nullable=False))
    op.create_table(
        'user_teams',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('team', sa.String(64), primary_key=True))
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.String(16), primary_key=True),
        sa.Column('secret_sha256', sa.String(64), nullable=False, unique=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('patient_id', sa.String(64), nullable=True),
        sa.Column('teams', sa.JSON(), nullable=False),
        sa.Column('label', sa.String(200), nullable=False),
        sa.Column('created_by', sa.String(100), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('expires_at', UTC(), nullable=True),
        sa.Column('revoked_at', UTC(), nullable=True))
    op.create_table(
        'staff_sessions',
        sa.Column('secret_sha256', sa.String(64), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('csrf_token', sa.String(64), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('last_seen_at', UTC(), nullable=False),
        sa.Column('revoked_at', UTC(), nullable=True))
    op.create_table(
        'sign_in_failures',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_name', sa.String(64), nullable=False, index=True),
        sa.Column('address', sa.String(64), nullable=False, index=True),
        sa.Column('at', UTC(), nullable=False, index=True))
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('at', UTC(), nullable=False, index=True),
        sa.Column('actor', sa.String(100), nullable=False, index=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('patient_id', sa.String(64), nullable=True, index=True),
        sa.Column('target', sa.String(200), nullable=False),
        sa.Column('address', sa.String(64), nullable=False),
        sa.Column('outcome', sa.String(16), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False))
    op.create_table(
        'alert_assignments',
        sa.Column('alert_id', sa.String(64), sa.ForeignKey('alerts.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('assignee', sa.String(64), nullable=False, index=True),
        sa.Column('assigned_by', sa.String(100), nullable=False),
        sa.Column('assigned_at', UTC(), nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
                   "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$ "
                   "LANGUAGE plpgsql")
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON "
                   "audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON "
                       "audit_events BEGIN SELECT RAISE(ABORT, 'audit events are "
                       "append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    for table in ('alert_assignments', 'audit_events', 'sign_in_failures', 'staff_sessions', 'api_tokens',
                  'user_teams', 'users'):
        op.drop_table(table)
