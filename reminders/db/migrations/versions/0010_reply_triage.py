"""reply triage: replies sorted and acknowledged, on-call contacts, on-call alerts to send

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_REPLY = sa.text(
    "acknowledged_at IS NULL AND triage IN ('emergency', 'clinical', 'opt_out_request')"
)
PENDING = sa.text("state = 'pending'")
SENDING = sa.text("state = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("on_call_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("on_call_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("reply_auto_answer", sa.Text(), nullable=True))
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("treatment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("triage", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("flags", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("answer", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column("opt_out_confirmed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_inbound_messages_treatment_id_treatments"),
            "treatments",
            ["treatment_id"],
            ["id"],
        )
    op.create_index(
        "ix_inbound_messages_open_clinic",
        "inbound_messages",
        ["clinic_id", "received_at"],
        sqlite_where=OPEN_REPLY,
        postgresql_where=OPEN_REPLY,
    )
    op.create_table(
        "on_call_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("to", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=80), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_on_call_alerts_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_on_call_alerts_inbound_id_inbound_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_alerts")),
        sa.UniqueConstraint("inbound_id", "channel", name="uq_on_call_alerts_inbound_channel"),
    )
    op.create_index(
        "ix_on_call_alerts_pending_send_after",
        "on_call_alerts",
        ["send_after"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_on_call_alerts_sending_lease_until",
        "on_call_alerts",
        ["lease_until"],
        sqlite_where=SENDING,
        postgresql_where=SENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_on_call_alerts_sending_lease_until", table_name="on_call_alerts")
    op.drop_index("ix_on_call_alerts_pending_send_after", table_name="on_call_alerts")
    op.drop_table("on_call_alerts")
    op.drop_index("ix_inbound_messages_open_clinic", table_name="inbound_messages")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_inbound_messages_treatment_id_treatments"), type_="foreignkey"
        )
        batch_op.drop_column("opt_out_confirmed_at")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("answer")
        batch_op.drop_column("flags")
        batch_op.drop_column("triage")
        batch_op.drop_column("treatment_id")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("reply_auto_answer")
        batch_op.drop_column("on_call_email")
        batch_op.drop_column("on_call_phone")
