"""Initial schema: respondents, survey sessions, answers, prefill keys, consents, processed
updates, channel state.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "respondents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("dialog", sa.JSON, nullable=False),
        sa.Column("unreachable_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_respondents"),
        sa.UniqueConstraint("pseudonym", name="uq_respondents_pseudonym"),
        sa.UniqueConstraint("channel", "external_id", name="uq_respondents_channel_external"),
    )
    op.create_table(
        "survey_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("respondent_id", sa.Integer),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(64)),
        sa.Column("prefill", sa.JSON, nullable=False),
        sa.Column("questionnaire_version", sa.String(64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("completed_at", TZ),
        sa.PrimaryKeyConstraint("id", name="pk_survey_sessions"),
        sa.ForeignKeyConstraint(
            ["respondent_id"], ["respondents.id"], name="fk_survey_sessions_respondent_id_respondents"
        ),
    )
    op.create_index("ix_survey_sessions_respondent_status", "survey_sessions", ["respondent_id", "status"])
    op.create_index("ix_survey_sessions_completed_at", "survey_sessions", ["completed_at"])
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("question_code", sa.String(8), nullable=False),
        sa.Column("platform_code", sa.String(8), nullable=False),
        sa.Column("option_code", sa.String(64), nullable=False),
        sa.Column("option_platform_code", sa.String(64), nullable=False),
        sa.Column("value_text", sa.Text, nullable=False),
        sa.Column("followup_text", sa.Text),
        sa.Column("prefilled", sa.Boolean, nullable=False),
        sa.Column("answered_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_answers"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["survey_sessions.id"],
            name="fk_answers_session_id_survey_sessions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("session_id", "question_code", name="uq_answers_session_question"),
    )
    op.create_table(
        "prefill_keys",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_prefill_keys"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("respondent_id", sa.Integer, nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("recorded_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.ForeignKeyConstraint(
            ["respondent_id"], ["respondents.id"], name="fk_consents_respondent_id_respondents"
        ),
    )
    op.create_index("ix_consents_respondent", "consents", ["respondent_id", "id"])
    op.create_table(
        "processed_updates",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("processed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel", "update_id", name="pk_processed_updates"),
    )
    op.create_table(
        "channel_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_channel_state"),
    )


def downgrade() -> None:
    for table in (
        "channel_state",
        "processed_updates",
        "consents",
        "prefill_keys",
        "answers",
        "survey_sessions",
        "respondents",
    ):
        op.drop_table(table)
