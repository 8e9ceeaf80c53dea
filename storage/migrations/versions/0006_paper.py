"""Paper forms: a fingerprint per paper questionnaire, so a repeated import is refused.

Revision ID: 0006_paper
Revises: 0005_mailing

Paper questionnaires entered before this revision get their fingerprint here, from the stored
answers, so importing their file again is caught too.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.paper_forms import StoredAnswer, fingerprint

revision = "0006_paper"
down_revision = "0005_mailing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "paper_forms",
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_paper_forms"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["survey_sessions.id"],
            name="fk_paper_forms_session_id_survey_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_paper_forms_fingerprint", "paper_forms", ["fingerprint"])
    bind = op.get_bind()
    sessions = sa.table(
        "survey_sessions",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("status", sa.String),
        sa.column("completed_at", sa.DateTime(timezone=True)),
    )
    answers = sa.table(
        "answers",
        sa.column("session_id", sa.Integer),
        sa.column("question_code", sa.String),
        sa.column("option_code", sa.String),
        sa.column("value_text", sa.Text),
        sa.column("followup_text", sa.Text),
    )
    paper = sa.select(sessions.c.id, sessions.c.completed_at).where(
        sessions.c.source == "paper", sessions.c.status == "completed"
    )
    completed = {int(row.id): row.completed_at for row in bind.execute(paper)}
    if not completed:
        return
    stored: dict[int, list[StoredAnswer]] = defaultdict(list)
    rows = bind.execute(
        sa.select(
            answers.c.session_id,
            answers.c.question_code,
            answers.c.option_code,
            answers.c.value_text,
            answers.c.followup_text,
        ).where(answers.c.session_id.in_(sa.select(paper.subquery().c.id)))
    )
    for session_id, code, option, text, followup in rows:
        stored[int(session_id)].append((code, option, text, followup))
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {"session_id": sid, "fingerprint": fingerprint(when, stored[sid]), "entered_at": now}
            for sid, when in completed.items()
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_paper_forms_fingerprint", table_name="paper_forms")
    op.drop_table("paper_forms")
