"""shipments: what each delivery costs (the courier's charge or the local delivery fee), for finance

Revision ID: 65483edb4fb1
Revises: 1362cd501f2b
Create Date: 2026-11-25 08:42:30.233917
"""

import sqlalchemy as sa
from alembic import op

revision = "65483edb4fb1"
down_revision = "1362cd501f2b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Shipments booked before there was a fee cost nothing: the server default fills them with 0.
    op.add_column("shipments", sa.Column("delivery_fee_cents", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch_op:
        batch_op.drop_column("delivery_fee_cents")
