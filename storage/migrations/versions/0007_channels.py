"""Channels: processed update ids keyed by bot / community; the dead-letter table.

Revision ID: 0007_channels
Revises: 0006_paper
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_channels"
down_revision = "0006_paper"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Rows written before this revision get bot "": the channel adopts them at its next start
    # (storage.channels.adopt_processed_updates), so a batch re-delivered across the upgrade
    # is still recognised.
    with op.batch_alter_table("processed_updates") as batch:
        batch.add_column(sa.Column("bot", sa.String(32), nullable=False, server_default=""))
        batch.drop_constraint("pk_processed_updates", type_="primary")
        batch.create_primary_key("pk_processed_updates", ["channel", "bot", "update_id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("bot", sa.String(32), nullable=False),
        sa.Column("update_id", sa.String(64)),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_received_at", table_name="dead_letters")
    op.drop_table("dead_letters")
    with op.batch_alter_table("processed_updates") as batch:
        batch.drop_constraint("pk_processed_updates", type_="primary")
        batch.create_primary_key("pk_processed_updates", ["channel", "update_id"])
        batch.drop_column("bot")
