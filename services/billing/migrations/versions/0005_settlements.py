"""settlements: that a month's statements were built, and when (also for a month with nothing to settle)

Revision ID: 4f7a9d2c8e13
Revises: 273939fe7a80
Create Date: 2026-11-25 09:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "4f7a9d2c8e13"
down_revision = "273939fe7a80"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_settlements")),
    )


def downgrade() -> None:
    op.drop_table("settlements")
