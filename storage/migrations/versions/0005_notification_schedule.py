"""notifications.next_attempt_at: when an undelivered notification is due (NULL: no attempt left)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

import storage.tables


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('next_attempt_at', storage.tables.UTCDateTime(),
                                   nullable=True))
        batch.create_index(batch.f('ix_notifications_next_attempt_at'), ['next_attempt_at'],
                           unique=False)
    # Notifications queued before delivery existed are due now, oldest first.
    op.execute("UPDATE notifications SET next_attempt_at = created_at "
               "WHERE delivered_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_index(batch.f('ix_notifications_next_attempt_at'))
        batch.drop_column('next_attempt_at')
