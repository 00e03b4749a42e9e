"""products withdrawn from sale (a removed product is withdrawn, never deleted)

Revision ID: fab9f4c55947
Revises: 28e8273a9aac
Create Date: 2026-11-25 11:04:27.489957
"""

import sqlalchemy as sa
from alembic import op


revision = "fab9f4c55947"
down_revision = "28e8273a9aac"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every existing product: all of them are on sale.
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
