"""Reports: client totals of the Appendix 2 report (entered by staff).

Revision ID: 0004_reports
Revises: 0003_vk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reports"
down_revision = "0003_vk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_totals",
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("process_group", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.PrimaryKeyConstraint("quarter", "unit", "process_group", "channel", name="pk_client_totals"),
    )


def downgrade() -> None:
    op.drop_table("client_totals")
