"""Consent kinds (granted, refused, withdrawn, erased) and a skipped follow-up question.

Revision ID: 0008_chat
Revises: 0007_channels

`consents.kind` tells a «Нет» to the consent question (refused) from a withdrawal of a consent
that was given. Existing rows: grants are `granted`, erasure rows (method `erasure`) are
`erased`; any other refusal row is `withdrawn` when the respondent's previous record was a grant
(there was a consent to withdraw), otherwise `refused` (the old bot wrote both a «Нет» and a
`/stop` of someone who never consented as a withdrawal).

`answers.followup_skipped` records that the respondent chose «Пропустить» for the follow-up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_chat"
down_revision = "0007_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "answers",
        sa.Column("followup_skipped", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("consents", sa.Column("kind", sa.String(16), nullable=False, server_default="withdrawn"))
    op.execute("UPDATE consents SET kind = 'granted' WHERE granted = TRUE")
    op.execute("UPDATE consents SET kind = 'erased' WHERE granted = FALSE AND method = 'erasure'")
    op.execute(
        """
        UPDATE consents SET kind = CASE WHEN (
            SELECT earlier.granted FROM consents earlier
            WHERE earlier.respondent_id = consents.respondent_id AND earlier.id < consents.id
            ORDER BY earlier.id DESC LIMIT 1
        ) = TRUE THEN 'withdrawn' ELSE 'refused' END
        WHERE granted = FALSE AND method <> 'erasure'
        """
    )
    # Every record names its kind from now on: no default that could hide a missing one.
    with op.batch_alter_table("consents") as batch:
        batch.alter_column("kind", server_default=None, existing_type=sa.String(16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("followup_skipped")
