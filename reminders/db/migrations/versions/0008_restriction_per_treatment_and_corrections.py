"""a treatment's own restriction (with a reason or a clinic's source), correction notes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restriction_source", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("restriction_quote", sa.Text(), nullable=True))
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restriction_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("restriction_source", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("correction_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("treatments", schema=None) as batch_op:
        batch_op.drop_column("correction_note")
        batch_op.drop_column("restriction_source")
        batch_op.drop_column("restriction_reason")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("restriction_quote")
        batch_op.drop_column("restriction_source")
