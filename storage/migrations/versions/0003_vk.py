"""No schema change: the VK channel needs no table of its own (its update ids went into
processed_updates of 0001, their per-bot key and the dead letters came with 0007_channels). The
revision stays so databases stamped with it keep upgrading.

Revision ID: 0003_vk
Revises: 0002_telegram
"""

from __future__ import annotations

revision = "0003_vk"
down_revision = "0002_telegram"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
