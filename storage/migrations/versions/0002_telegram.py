"""No schema change: the Telegram channel needs no table of its own (its update ids went into
processed_updates of 0001, their per-bot key and the dead letters came with 0007_channels). The
revision stays so databases stamped with it keep upgrading.

Revision ID: 0002_telegram
Revises: 0001_initial
"""

from __future__ import annotations

revision = "0002_telegram"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
