"""problems: problem statements, their supporters, challenge followers and team listings

Revision ID: 0003_problems
Revises: 0002_challenges
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_problems"
down_revision: str | Sequence[str] | None = "0002_challenges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("challenges") as batch:
        batch.add_column(sa.Column("teams_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("listing", _json(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("challenges") as batch:
        batch.alter_column("listing", server_default=None)

    op.create_table(
        "problem_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("affected", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("theme", sa.String(length=20), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("challenge_id", sa.Integer(), nullable=True),
        sa.Column("support_count", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("post_archived", sa.Boolean(), nullable=False),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", _ts(), nullable=True),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'duplicate', 'merged')",
            name=op.f("ck_problem_statements_status"),
        ),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name=op.f("fk_problem_statements_challenge_id_challenges"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["problem_statements.id"],
            name=op.f("fk_problem_statements_duplicate_of_id_problem_statements"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_statements")),
    )
    op.create_index(
        op.f("ix_problem_statements_author_discord_id"),
        "problem_statements",
        ["author_discord_id"],
    )
    op.create_index(
        op.f("ix_problem_statements_challenge_id"), "problem_statements", ["challenge_id"]
    )
    op.create_index(op.f("ix_problem_statements_status_id"), "problem_statements", ["status", "id"])

    op.create_table(
        "problem_supports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("member_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["problem_statements.id"],
            name=op.f("fk_problem_supports_problem_id_problem_statements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_problem_supports")),
        sa.UniqueConstraint(
            "problem_id",
            "member_discord_id",
            name=op.f("uq_problem_supports_problem_id_member_discord_id"),
        ),
    )

    op.create_table(
        "challenge_followers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=False),
        sa.Column("member_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name=op.f("fk_challenge_followers_challenge_id_challenges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenge_followers")),
        sa.UniqueConstraint(
            "challenge_id",
            "member_discord_id",
            name=op.f("uq_challenge_followers_challenge_id_member_discord_id"),
        ),
    )
    op.create_index(
        op.f("ix_challenge_followers_member_discord_id"),
        "challenge_followers",
        ["member_discord_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_challenge_followers_member_discord_id"), table_name="challenge_followers"
    )
    op.drop_table("challenge_followers")
    op.drop_table("problem_supports")
    op.drop_index(op.f("ix_problem_statements_status_id"), table_name="problem_statements")
    op.drop_index(op.f("ix_problem_statements_challenge_id"), table_name="problem_statements")
    op.drop_index(op.f("ix_problem_statements_author_discord_id"), table_name="problem_statements")
    op.drop_table("problem_statements")
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("listing")
        batch.drop_column("teams_message_id")
