"""Mailings, outbox and scheduler tables (reserved; filled by that work).

Revision ID: 0005_mailing
Revises: 0004_reports
"""

from __future__ import annotations

revision = "0005_mailing"
down_revision = "0004_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
