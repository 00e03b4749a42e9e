"""inbox: an index on received_at, for deleting expired rows (shared.messaging.prune)

Revision ID: d24e891e629f
Revises: 03eec3c98080
Create Date: 2026-11-25 07:20:00
"""

from shared.migrations import create_inbox_received_at_index, drop_inbox_received_at_index

revision = "d24e891e629f"
down_revision = "03eec3c98080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_received_at_index()


def downgrade() -> None:
    drop_inbox_received_at_index()
