"""a clinic's monthly SMS budget and its usage, messages held over it; test mode

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = sa.text("held_for IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_monthly_segments", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("test_mode", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("test_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("test_email", sa.String(length=254), nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_for", sa.String(length=20), nullable=True))
    op.create_index(
        "ix_messages_held_clinic",
        "messages",
        ["clinic_id"],
        sqlite_where=HELD,
        postgresql_where=HELD,
    )

    op.create_table(
        "sms_usage",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("allowed_segments", sa.Integer(), nullable=False),
        sa.Column("allowed_by", sa.String(length=80), nullable=True),
        sa.Column("allowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_sms_usage_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("clinic_id", "month", name=op.f("pk_sms_usage")),
    )


def downgrade() -> None:
    op.drop_table("sms_usage")
    op.drop_index("ix_messages_held_clinic", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("held_for")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("test_email")
        batch_op.drop_column("test_phone")
        batch_op.drop_column("test_mode")
        batch_op.drop_column("sms_monthly_segments")
