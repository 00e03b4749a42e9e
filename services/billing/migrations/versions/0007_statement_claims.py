"""billing: a statement credits what couriers paid on loss claims

Revision ID: 19b72a1b63d3
Revises: ca581452f84c
Create Date: 2026-11-25 11:20:00
"""

import sqlalchemy as sa
from alembic import op


revision = "19b72a1b63d3"
down_revision = "ca581452f84c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_cents", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_column("claims_cents")
