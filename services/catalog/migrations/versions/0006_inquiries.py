"""catalog: customers' inquiries about products (咨询) and their answers

Revision ID: 1d351da59528
Revises: d7d18783c6ba
Create Date: 2026-11-25 11:57:48
"""

import sqlalchemy as sa
from alembic import op


revision = "1d351da59528"
down_revision = "d7d18783c6ba"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inquiries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("available", sa.Integer(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_unit", sa.String(length=32), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'answered')", name=op.f("ck_inquiries_status_known")),
        sa.CheckConstraint("available IS NULL OR available >= 0", name=op.f("ck_inquiries_available_not_negative")),
        sa.CheckConstraint("quantity IS NULL OR quantity > 0", name=op.f("ck_inquiries_quantity_positive")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_inquiries_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
        sa.UniqueConstraint("member_id", "idempotency_key", name="uq_inquiries_member_id_idempotency_key"),
    )
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.create_index("ix_inquiries_member_id_created_at", ["member_id", "created_at"], unique=False)
        batch_op.create_index("ix_inquiries_product_id_answered_at", ["product_id", "answered_at"], unique=False)
        batch_op.create_index("ix_inquiries_status_created_at", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.drop_index("ix_inquiries_status_created_at")
        batch_op.drop_index("ix_inquiries_product_id_answered_at")
        batch_op.drop_index("ix_inquiries_member_id_created_at")

    op.drop_table("inquiries")
