"""finance: each order's lines (the three copies, the sales report) and the monthly statements

Revision ID: 273939fe7a80
Revises: 5b1e0c7a3d21
Create Date: 2026-11-25 08:44:04.520415
"""

import sqlalchemy as sa
from alembic import op

revision = "273939fe7a80"
down_revision = "5b1e0c7a3d21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_order"), "order_lines", ["order"], unique=False)
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunds_cents", sa.BigInteger(), nullable=False),
        sa.Column("parcels", sa.Integer(), nullable=False),
        sa.Column("logistics_cost_cents", sa.BigInteger(), nullable=False),
        sa.Column("insurance_cents", sa.BigInteger(), nullable=False),
        sa.Column("net_payable_cents", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("unit", "month", name="uq_statements_unit_month"),
    )
    op.create_index(op.f("ix_statements_month"), "statements", ["month"], unique=False)
    # Statements and the sales report take one month of entries at a time.
    op.create_index(op.f("ix_ledger_entries_created_at"), "ledger_entries", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_entries_created_at"), table_name="ledger_entries")
    op.drop_index(op.f("ix_statements_month"), table_name="statements")
    op.drop_table("statements")
    op.drop_index(op.f("ix_order_lines_order"), table_name="order_lines")
    op.drop_table("order_lines")
