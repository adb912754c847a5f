"""patients.evaluated_through: the last day the alert rules judged

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patients') as batch:
        batch.add_column(sa.Column('evaluated_through', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('patients') as batch:
        batch.drop_column('evaluated_through')
