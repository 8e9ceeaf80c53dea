"""VK channel tables (reserved; filled by that work).

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
