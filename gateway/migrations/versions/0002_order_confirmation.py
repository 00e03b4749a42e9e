"""order refs: the deadline for orders to have the order, and how often it was sent again

Revision ID: b7d8a53fc763
Revises: 9a3cd7fa8bf8
Create Date: 2026-11-25 01:20:11.802233

Existing refs get no deadline (confirm_by NULL): only orders placed from now on are checked.
"""

import sqlalchemy as sa
from alembic import op


revision = "b7d8a53fc763"
down_revision = "9a3cd7fa8bf8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order_refs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_by", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resends", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_order_refs_confirm_by"), ["confirm_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_refs_confirm_by"))
        batch_op.drop_column("resends")
        batch_op.drop_column("confirm_by")
