"""payments: the provider's trade number and the units' shares (online payments are captured by notification)

Revision ID: 5b1e0c7a3d21
Revises: 07dd8fff6c5f
Create Date: 2026-11-25 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5b1e0c7a3d21"
down_revision = "07dd8fff6c5f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite adds a unique constraint only by rebuilding the table (PostgreSQL alters it).
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("trade_no", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("shares", sa.Text(), nullable=True))
        batch.create_unique_constraint(op.f("uq_payments_trade_no"), ["trade_no"])


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("uq_payments_trade_no"), type_="unique")
        batch.drop_column("shares")
        batch.drop_column("trade_no")
