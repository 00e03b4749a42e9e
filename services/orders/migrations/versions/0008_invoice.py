"""orders: the invoice the customer asked for

Revision ID: b88adcbabcf9
Revises: 56e5c06e89aa
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "b88adcbabcf9"
down_revision = "56e5c06e89aa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("invoice")
