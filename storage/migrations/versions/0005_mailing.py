"""Mailings: campaigns, the delivery outbox and reminders.

Revision ID: 0005_mailing
Revises: 0004_reports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_mailing"
down_revision = "0004_reports"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("audience", sa.JSON, nullable=False),
        sa.Column("prefill_key", sa.String(64), nullable=False),
        sa.Column("scheduled_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("notify_chat", sa.String(64)),
        sa.Column("progress_message_id", sa.Integer),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("respondent_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("claimed_at", TZ),
        sa.Column("sent_at", TZ),
        sa.Column("message_id", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name="fk_outbox_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(
            ["respondent_id"], ["respondents.id"], name="fk_outbox_respondent_id_respondents"
        ),
        sa.UniqueConstraint("campaign_id", "respondent_id", name="uq_outbox_campaign_respondent"),
    )
    op.create_index("ix_outbox_campaign_status", "outbox", ["campaign_id", "status"])
    op.create_index("ix_outbox_respondent_claimed", "outbox", ["respondent_id", "claimed_at"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("respondent_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_reminders"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["survey_sessions.id"], name="fk_reminders_session_id_survey_sessions"
        ),
        sa.ForeignKeyConstraint(
            ["respondent_id"], ["respondents.id"], name="fk_reminders_respondent_id_respondents"
        ),
        sa.UniqueConstraint("session_id", name="uq_reminders_session_id"),
    )


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_index("ix_outbox_respondent_claimed", table_name="outbox")
    op.drop_index("ix_outbox_campaign_status", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_table("campaigns")
