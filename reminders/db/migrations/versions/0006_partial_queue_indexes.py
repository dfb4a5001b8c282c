"""queue indexes hold only pending (or sending) rows, not the history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = {
    "ix_messages_pending_send_after": (["send_after"], "pending"),
    "ix_messages_pending_due_at": (["due_at", "id"], "pending"),
    "ix_messages_pending_expires_at": (["expires_at"], "pending"),
    "ix_messages_sending_claim_token": (["claim_token"], "sending"),
}
FULL = {
    "ix_messages_state_send_after": ["state", "send_after"],
    "ix_messages_state_due_at": ["state", "due_at", "id"],
    "ix_messages_state_expires_at": ["state", "expires_at"],
}


def upgrade() -> None:
    for name, (columns, state) in PARTIAL.items():
        where = sa.text(f"state = '{state}'")
        op.create_index(name, "messages", columns, sqlite_where=where, postgresql_where=where)
    for name in FULL:
        op.drop_index(name, table_name="messages")


def downgrade() -> None:
    for name, columns in FULL.items():
        op.create_index(name, "messages", columns)
    for name in PARTIAL:
        op.drop_index(name, table_name="messages")
