"""billing: the invoice the customer asked for, on the payment (finance issues it)

Revision ID: eb630695f529
Revises: fe780afd95cc
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "eb630695f529"
down_revision = "fe780afd95cc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("invoice")
