"""award manual: winners an organiser placed by hand (/admin judging winner-set)

Revision ID: 0011_award_manual
Revises: 0010_board_cards
Create Date: 2026-11-23 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_award_manual"
down_revision: str | Sequence[str] | None = "0010_board_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("awards") as batch:
        batch.add_column(
            sa.Column("manual", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("awards") as batch:
        batch.drop_column("manual")
