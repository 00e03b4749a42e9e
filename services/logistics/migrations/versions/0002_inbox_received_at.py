"""inbox: an index on received_at, for deleting expired rows (shared.messaging.prune)

Revision ID: d24e891e629f
Revises: 03eec3c98080
Create Date: 2026-11-25 07:05:00
"""

from alembic import op

revision = "d24e891e629f"
down_revision = "03eec3c98080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # BRIN on PostgreSQL (rows arrive in time order; an insert costs it almost nothing), a B-tree on SQLite.
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"], unique=False, postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_inbox_received_at", table_name="inbox")
