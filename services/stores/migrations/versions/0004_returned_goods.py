"""stores: goods returned under after-sales cases, put back on the shelf once per case

Revision ID: 61526e02c9a0
Revises: a8823184fc07
Create Date: 2026-11-25 11:25:00
"""

import sqlalchemy as sa
from alembic import op


revision = "61526e02c9a0"
down_revision = "a8823184fc07"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "returned_goods",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("order", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_returned_goods")),
    )
    with op.batch_alter_table("returned_goods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_returned_goods_order"), ["order"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("returned_goods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_returned_goods_order"))

    op.drop_table("returned_goods")
