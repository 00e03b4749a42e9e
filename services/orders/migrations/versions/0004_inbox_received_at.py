"""inbox: an index on received_at, for deleting expired rows (shared.messaging.prune)

Revision ID: b8b89d067518
Revises: 6fd87a432ca8
Create Date: 2026-11-25 07:20:00
"""

from shared.migrations import create_inbox_received_at_index, drop_inbox_received_at_index

revision = "b8b89d067518"
down_revision = "6fd87a432ca8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_received_at_index()


def downgrade() -> None:
    drop_inbox_received_at_index()
