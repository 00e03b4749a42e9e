"""orders: an after-sales case keeps the deadline of its loss claim to the courier, and the claim

Revision ID: 56e5c06e89aa
Revises: 88098eeb251e
Create Date: 2026-11-25 11:10:00
"""

import sqlalchemy as sa
from alembic import op


revision = "56e5c06e89aa"
down_revision = "88098eeb251e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("after_sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claim_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("claim_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_after_sales_claim_deadline_at"), ["claim_deadline_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("after_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sales_claim_deadline_at"))
        batch_op.drop_column("claim_id")
        batch_op.drop_column("claim_attempts")
        batch_op.drop_column("claim_deadline_at")
