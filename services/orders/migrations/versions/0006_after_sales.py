"""orders: after-sales cases (returns, refunds, complaints) and the deadlines of their commands

Revision ID: 88098eeb251e
Revises: 9c4d2e7f1a60
Create Date: 2026-11-25 11:10:00
"""

import sqlalchemy as sa
from alembic import op


revision = "88098eeb251e"
down_revision = "9c4d2e7f1a60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "after_sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("claimed_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("refund_cents", sa.BigInteger(), nullable=True),
        sa.Column("restock", sa.Boolean(), nullable=True),
        sa.Column("reply", sa.String(length=500), nullable=True),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("restock_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restock_attempts", sa.Integer(), nullable=False),
        sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_number"], ["orders.number"], name=op.f("fk_after_sales_order_number_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales")),
        sa.UniqueConstraint("member_id", "idempotency_key", name="uq_after_sales_member_id_key"),
    )
    with op.batch_alter_table("after_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_after_sales_deadline_at"), ["deadline_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sales_order_number"), ["order_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sales_restock_deadline_at"), ["restock_deadline_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sales_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_after_sales_unit"), ["unit"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("after_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sales_unit"))
        batch_op.drop_index(batch_op.f("ix_after_sales_status"))
        batch_op.drop_index(batch_op.f("ix_after_sales_restock_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_after_sales_order_number"))
        batch_op.drop_index(batch_op.f("ix_after_sales_deadline_at"))

    op.drop_table("after_sales")
