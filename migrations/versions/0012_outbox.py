"""outbox: every write the bot makes to Discord on its own, stored before it is sent

Revision ID: 0012_outbox
Revises: 0011_award_manual
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_outbox"
down_revision: str | Sequence[str] | None = "0011_award_manual"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lane", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("coalesce_key", sa.String(length=200), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("on_done", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("done_at", _ts(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'done', 'failed', 'cancelled')",
            name=op.f("ck_outbox_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_status_id"), "outbox", ["status", "id"], unique=False)
    op.create_index(op.f("ix_outbox_coalesce_key"), "outbox", ["coalesce_key"], unique=False)
    op.create_index(op.f("ix_outbox_batch"), "outbox", ["batch"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_batch"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_coalesce_key"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_status_id"), table_name="outbox")
    op.drop_table("outbox")
