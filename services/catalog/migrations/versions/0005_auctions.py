"""catalog: members' person-to-person auctions and their bids

Revision ID: d7d18783c6ba
Revises: fab9f4c55947
Create Date: 2026-11-25 11:06:39
"""

import sqlalchemy as sa
from alembic import op


revision = "d7d18783c6ba"
down_revision = "fab9f4c55947"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auctions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seller_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starting_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("reserve_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("highest_bid_cents", sa.BigInteger(), nullable=True),
        sa.Column("highest_bidder_id", sa.Integer(), nullable=True),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("settle_attempts", sa.Integer(), nullable=False),
        sa.Column("settle_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("reserve_price_cents > starting_price_cents", name=op.f("ck_auctions_reserve_above_start")),
        sa.CheckConstraint("starting_price_cents > 0", name=op.f("ck_auctions_starting_price_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auctions")),
        sa.UniqueConstraint("seller_id", "idempotency_key", name="uq_auctions_seller_id_idempotency_key"),
    )
    with op.batch_alter_table("auctions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auctions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auctions_seller_id"), ["seller_id"], unique=False)
        batch_op.create_index("ix_auctions_status_ends_at", ["status", "ends_at"], unique=False)
        batch_op.create_index("ix_auctions_status_settle_deadline_at", ["status", "settle_deadline_at"], unique=False)

    op.create_table(
        "bids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("auction_id", sa.Integer(), nullable=False),
        sa.Column("bidder_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["auction_id"], ["auctions.id"], name=op.f("fk_bids_auction_id_auctions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bids")),
        sa.UniqueConstraint("auction_id", "amount_cents", name="uq_bids_auction_id_amount_cents"),
        sa.UniqueConstraint("bidder_id", "idempotency_key", name="uq_bids_bidder_id_idempotency_key"),
    )
    with op.batch_alter_table("bids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bids_auction_id"), ["auction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bids_bidder_id"), ["bidder_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bids_bidder_id"))
        batch_op.drop_index(batch_op.f("ix_bids_auction_id"))

    op.drop_table("bids")
    with op.batch_alter_table("auctions", schema=None) as batch_op:
        batch_op.drop_index("ix_auctions_status_settle_deadline_at")
        batch_op.drop_index("ix_auctions_status_ends_at")
        batch_op.drop_index(batch_op.f("ix_auctions_seller_id"))
        batch_op.drop_index(batch_op.f("ix_auctions_created_at"))

    op.drop_table("auctions")
