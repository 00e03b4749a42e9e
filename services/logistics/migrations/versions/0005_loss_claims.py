"""logistics: claims on the courier for parcels lost or damaged in transit, under the insurance

Revision ID: e767c162b40f
Revises: 65483edb4fb1
Create Date: 2026-11-25 11:15:00
"""

import sqlalchemy as sa
from alembic import op


revision = "e767c162b40f"
down_revision = "65483edb4fb1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loss_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("order", sa.String(length=32), nullable=False),
        sa.Column("fulfilment_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("waybill", sa.String(length=64), nullable=True),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("problem", sa.String(length=16), nullable=False),
        sa.Column("declared_value_cents", sa.BigInteger(), nullable=False),
        sa.Column("premium_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("claimed_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("settled_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loss_claims")),
        sa.UniqueConstraint("case_id", name=op.f("uq_loss_claims_case_id")),
    )
    with op.batch_alter_table("loss_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loss_claims_order"), ["order"], unique=False)
        batch_op.create_index(batch_op.f("ix_loss_claims_settled_at"), ["settled_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_loss_claims_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loss_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loss_claims_status"))
        batch_op.drop_index(batch_op.f("ix_loss_claims_settled_at"))
        batch_op.drop_index(batch_op.f("ix_loss_claims_order"))

    op.drop_table("loss_claims")
