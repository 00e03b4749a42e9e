"""addresses and carts: members' saved delivery addresses (one default each) and their cart lines

Revision ID: 55445dc27f04
Revises: 132563110ea3
Create Date: 2026-11-25 10:34:30.984912
"""

import sqlalchemy as sa
from alembic import op

revision = "55445dc27f04"
down_revision = "132563110ea3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("city", sa.String(length=64), nullable=False),
        sa.Column("line", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_addresses_member_id"), ["member_id"], unique=False)
        # At most one default per member: a partial unique index (PostgreSQL and SQLite both have them).
        batch_op.create_index(
            "uq_addresses_default_per_member",
            ["member_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "cart_items",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "sku", name=op.f("pk_cart_items")),
    )


def downgrade() -> None:
    op.drop_table("cart_items")
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_index("uq_addresses_default_per_member")
        batch_op.drop_index(batch_op.f("ix_addresses_member_id"))
    op.drop_table("addresses")
