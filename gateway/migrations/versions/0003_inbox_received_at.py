"""inbox: an index on received_at, for deleting expired rows (shared.messaging.prune)

Revision ID: 132563110ea3
Revises: b7d8a53fc763
Create Date: 2026-11-25 07:20:00
"""

from shared.migrations import create_inbox_received_at_index, drop_inbox_received_at_index

revision = "132563110ea3"
down_revision = "b7d8a53fc763"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_received_at_index()


def downgrade() -> None:
    drop_inbox_received_at_index()
