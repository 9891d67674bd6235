"""board cards: remember each /lft and /team recruit card so it leaves the board when stale

Revision ID: 0010_board_cards
Revises: 0009_new_teams
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_board_cards"
down_revision: str | Sequence[str] | None = "0009_new_teams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("profiles", "teams"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("card_channel_id", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("card_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ("profiles", "teams"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("card_message_id")
            batch.drop_column("card_channel_id")
