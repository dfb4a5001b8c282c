"""let a send's start be a heap-only update: no index on lease_until, room in each page

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:25:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Lease sweeps read the few rows in 'sending' through any index on state;
    # without an index on lease_until, marking a send as started changes no
    # indexed column, and PostgreSQL can update the row in place (HOT) when
    # its page has room, which the fill factor keeps.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_state_lease_until")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages RESET (fillfactor)")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_state_lease_until", ["state", "lease_until"], unique=False
        )
