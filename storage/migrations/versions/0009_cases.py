"""Cases: the ministry answers a respondent who had difficulties; consent purposes.

Revision ID: 0009_cases
Revises: 0008_chat

`consents.purpose` keeps the agreement to be answered («reply») apart from the agreement to
receive invitations: each purpose has its own history. Every record written before this revision
was about invitations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_cases"
down_revision = "0008_chat"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "consents", sa.Column("purpose", sa.String(16), nullable=False, server_default="invitations")
    )
    # Every record names its purpose from now on: no default that could hide a missing one.
    with op.batch_alter_table("consents") as batch:
        batch.alter_column(
            "purpose", server_default=None, existing_type=sa.String(16), existing_nullable=False
        )
    op.create_index("ix_consents_purpose_respondent", "consents", ["purpose", "respondent_id", "id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("deadline_at", TZ, nullable=False),
        sa.Column("first_answer_at", TZ),
        sa.Column("last_message_at", TZ, nullable=False),
        sa.Column("closed_at", TZ),
        sa.Column("closed_by", sa.String(16)),
        sa.Column("closed_by_staff", sa.String(64)),
        sa.Column("unit_chat", sa.String(64)),
        sa.Column("thread_message_id", sa.String(32)),
        sa.Column("overdue_reminded_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["survey_sessions.id"],
            name="fk_cases_session_id_survey_sessions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("session_id", name="uq_cases_session_id"),
    )
    op.create_index("ix_cases_unit_status", "cases", ["unit", "status"])
    op.create_index("ix_cases_status_deadline", "cases", ["status", "deadline_at"])
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
    op.create_index("ix_cases_unit_chat_thread", "cases", ["unit_chat", "thread_message_id"])
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("staff", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ),
        sa.Column("message_ref", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_case_messages"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_messages_case_id_cases", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_case_messages_case", "case_messages", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_messages_case", table_name="case_messages")
    op.drop_table("case_messages")
    op.drop_index("ix_cases_unit_chat_thread", table_name="cases")
    op.drop_index("ix_cases_opened_at", table_name="cases")
    op.drop_index("ix_cases_status_deadline", table_name="cases")
    op.drop_index("ix_cases_unit_status", table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_consents_purpose_respondent", table_name="consents")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("purpose")
