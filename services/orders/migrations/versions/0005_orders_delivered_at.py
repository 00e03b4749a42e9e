"""orders: when the last parcel was delivered (automatic receipt, cash collected on delivery)

Revision ID: 9c4d2e7f1a60
Revises: b8b89d067518
Create Date: 2026-11-25 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9c4d2e7f1a60"
down_revision = "b8b89d067518"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "delivered_at")
