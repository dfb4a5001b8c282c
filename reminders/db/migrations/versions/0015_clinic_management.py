"""clinic management: disabling a clinic, a record of every change, admin API keys

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=200), nullable=True))
    op.create_table(
        "clinic_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_clinic_changes_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_changes")),
    )
    with op.batch_alter_table("clinic_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinic_changes_clinic_id"), ["clinic_id"], unique=False
        )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("admin", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.alter_column("clinic_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_api_keys_admin_has_no_clinic"), "admin = (clinic_id IS NULL)"
        )


def downgrade() -> None:
    # Admin keys have no clinic: they cannot survive the column becoming required again.
    op.execute(sa.text("DELETE FROM api_keys WHERE clinic_id IS NULL"))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_admin_has_no_clinic"), type_="check")
        batch_op.alter_column("clinic_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("admin")
    with op.batch_alter_table("clinic_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_changes_clinic_id"))
    op.drop_table("clinic_changes")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
