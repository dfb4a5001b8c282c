"""the text of the call in flight, and the call whose outcome is unknown

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("uncertain_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("uncertain_body", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("uncertain_body")
        batch_op.drop_column("uncertain_since")
        batch_op.drop_column("attempt_body")
