"""help: mentor help tickets and mentors on duty

Revision ID: 0006_help
Revises: 0005_timeline
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_help"
down_revision: str | Sequence[str] | None = "0005_timeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "help_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("active_team_id", sa.Integer(), nullable=True),
        sa.Column("asker_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=True),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("meet", sa.String(length=16), nullable=False),
        sa.Column("meet_detail", sa.String(length=100), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("queued_at", _ts(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.Integer(), nullable=False),
        sa.Column("pinged", _json(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", _ts(), nullable=True),
        sa.Column("first_claimed_at", _ts(), nullable=True),
        sa.Column("active_at", _ts(), nullable=True),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.Column("resolved_by", sa.BigInteger(), nullable=True),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("card_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("card_message_id", sa.BigInteger(), nullable=True),
        sa.Column("status_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("status_message_id", sa.BigInteger(), nullable=True),
        sa.Column("shown", _json(), nullable=False),
        sa.Column("shown_at", _ts(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_by", sa.BigInteger(), nullable=True),
        sa.Column("rated_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'claimed', 'resolved', 'cancelled', 'expired')",
            name=op.f("ck_help_tickets_status"),
        ),
        sa.CheckConstraint(
            "meet IN ('space', 'voice', 'table')", name=op.f("ck_help_tickets_meet")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name=op.f("ck_help_tickets_rating")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_tickets")),
        sa.UniqueConstraint("active_team_id", name=op.f("uq_help_tickets_active_team_id")),
    )
    op.create_index(op.f("ix_help_tickets_team_id"), "help_tickets", ["team_id"], unique=False)
    op.create_index(
        op.f("ix_help_tickets_claimed_by"), "help_tickets", ["claimed_by"], unique=False
    )
    op.create_index(
        op.f("ix_help_tickets_resolved_by"), "help_tickets", ["resolved_by"], unique=False
    )
    op.create_index(
        op.f("ix_help_tickets_status_created_at"),
        "help_tickets",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "help_mentors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("duty_since", _ts(), nullable=True),
        sa.Column("last_pinged_at", _ts(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_mentors")),
        sa.UniqueConstraint("discord_id", name=op.f("uq_help_mentors_discord_id")),
    )


def downgrade() -> None:
    op.drop_table("help_mentors")
    op.drop_index(op.f("ix_help_tickets_status_created_at"), table_name="help_tickets")
    op.drop_index(op.f("ix_help_tickets_resolved_by"), table_name="help_tickets")
    op.drop_index(op.f("ix_help_tickets_claimed_by"), table_name="help_tickets")
    op.drop_index(op.f("ix_help_tickets_team_id"), table_name="help_tickets")
    op.drop_table("help_tickets")
