"""Reports, paper questionnaires and QR codes tables (reserved; filled by that work).

Revision ID: 0004_reports
Revises: 0003_vk
"""

from __future__ import annotations

revision = "0004_reports"
down_revision = "0003_vk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
