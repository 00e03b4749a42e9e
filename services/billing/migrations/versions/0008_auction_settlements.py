"""billing: auctions' settlements, and a unique reference on wallet movements

Revision ID: fe780afd95cc
Revises: 19b72a1b63d3
Create Date: 2026-11-25 11:06:39
"""

import sqlalchemy as sa
from alembic import op


revision = "fe780afd95cc"
down_revision = "19b72a1b63d3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auction_settlements",
        sa.Column("auction_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seller_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("auction_id", name=op.f("pk_auction_settlements")),
    )
    with op.batch_alter_table("auction_settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auction_settlements_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auction_settlements_seller_id"), ["seller_id"], unique=False)

    with op.batch_alter_table("wallet_movements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_wallet_movements_reference"), ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("wallet_movements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_wallet_movements_reference"), type_="unique")
        batch_op.drop_column("reference")

    with op.batch_alter_table("auction_settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auction_settlements_seller_id"))
        batch_op.drop_index(batch_op.f("ix_auction_settlements_buyer_id"))

    op.drop_table("auction_settlements")
