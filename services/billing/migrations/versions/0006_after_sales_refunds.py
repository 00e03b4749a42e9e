"""billing: after-sales refunds (a ledger entry per case, the goods and money each gave back)

Revision ID: ca581452f84c
Revises: 4f7a9d2c8e13
Create Date: 2026-11-25 11:20:00
"""

import sqlalchemy as sa
from alembic import op


revision = "ca581452f84c"
down_revision = "4f7a9d2c8e13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refund_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_lines")),
    )
    with op.batch_alter_table("refund_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_lines_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_lines_order"), ["order"], unique=False)

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=40), server_default="", nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_ledger_entries_order_unit_kind"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_ledger_entries_order_unit_kind_reference", ["order", "unit", "kind", "reference"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_entries_order_unit_kind_reference", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_ledger_entries_order_unit_kind"), ["order", "unit", "kind"])
        batch_op.drop_column("reference")

    with op.batch_alter_table("refund_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_lines_order"))
        batch_op.drop_index(batch_op.f("ix_refund_lines_created_at"))

    op.drop_table("refund_lines")
