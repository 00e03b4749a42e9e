"""gateway: staff accounts can be disabled (disabled_at) and show their last log-in (last_login_at); the
administrator log is searched by target (an index on it)

Revision ID: f482f2cc0eea
Revises: 4e8e1bfc4ba5
Create Date: 2026-11-25 11:57:15
"""

import sqlalchemy as sa
from alembic import op


revision = "f482f2cc0eea"
down_revision = "4e8e1bfc4ba5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_log_target"), ["target"], unique=False)

    # Both nullable without a default: adding them rewrites no row (every account stays active).
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("disabled_at")

    with op.batch_alter_table("admin_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_log_target"))
