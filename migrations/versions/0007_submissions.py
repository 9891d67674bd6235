"""submissions and judging: submissions and their versions, reviews, pairwise votes and
model state, awards, ceremonies

Revision ID: 0007_submissions
Revises: 0006_help
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_submissions"
down_revision: str | Sequence[str] | None = "0006_help"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("pitch", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("repo_url", sa.String(length=500), nullable=False),
        sa.Column("demo_url", sa.String(length=500), nullable=False),
        sa.Column("extra", _json(), nullable=False),
        sa.Column("repo_key", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_at", _ts(), nullable=False),
        sa.Column("last_edit_at", _ts(), nullable=False),
        sa.Column("last_editor_discord_id", sa.BigInteger(), nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=True),
        sa.Column("flags", _json(), nullable=False),
        sa.Column("reopened_until", _ts(), nullable=True),
        sa.Column("gallery_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("gallery_version", sa.Integer(), nullable=False),
        sa.Column("receipt_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_submissions_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint("team_id", name=op.f("uq_submissions_team_id")),
    )
    op.create_index(op.f("ix_submissions_repo_key"), "submissions", ["repo_key"], unique=False)
    op.create_table(
        "submission_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", _json(), nullable=False),
        sa.Column("by_discord_id", sa.BigInteger(), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("late_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_submission_versions_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_versions")),
        sa.UniqueConstraint(
            "submission_id", "version", name=op.f("uq_submission_versions_submission_id_version")
        ),
    )
    op.create_index(
        op.f("ix_submission_versions_submission_id"),
        "submission_versions",
        ["submission_id"],
        unique=False,
    )
    op.create_table(
        "judge_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("judge_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scores", _json(), nullable=False),
        sa.Column("flag_reason", sa.String(length=32), nullable=True),
        sa.Column("assigned_at", _ts(), nullable=False),
        sa.Column("done_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "status IN ('assigned', 'scored', 'skipped', 'flagged')",
            name=op.f("ck_judge_reviews_status"),
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_judge_reviews_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_reviews")),
        sa.UniqueConstraint(
            "round",
            "submission_id",
            "judge_discord_id",
            name=op.f("uq_judge_reviews_round_submission_id_judge_discord_id"),
        ),
    )
    op.create_index(
        op.f("ix_judge_reviews_round_status"), "judge_reviews", ["round", "status"], unique=False
    )
    op.create_index(
        op.f("ix_judge_reviews_judge_discord_id_round"),
        "judge_reviews",
        ["judge_discord_id", "round"],
        unique=False,
    )
    op.create_table(
        "judge_comparisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("judge_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("winner_id", sa.Integer(), nullable=False),
        sa.Column("loser_id", sa.Integer(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["winner_id"],
            ["submissions.id"],
            name=op.f("fk_judge_comparisons_winner_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loser_id"],
            ["submissions.id"],
            name=op.f("fk_judge_comparisons_loser_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_comparisons")),
    )
    op.create_index(
        op.f("ix_judge_comparisons_round"), "judge_comparisons", ["round"], unique=False
    )
    op.create_table(
        "pairwise_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("mu", sa.Float(), nullable=False),
        sa.Column("sigma_sq", sa.Float(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_pairwise_items_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairwise_items")),
        sa.UniqueConstraint(
            "round", "submission_id", name=op.f("uq_pairwise_items_round_submission_id")
        ),
    )
    op.create_table(
        "pairwise_judges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("judge_discord_id", sa.BigInteger(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("beta", sa.Float(), nullable=False),
        sa.Column("current_id", sa.Integer(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("seen", _json(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairwise_judges")),
        sa.UniqueConstraint(
            "round", "judge_discord_id", name=op.f("uq_pairwise_judges_round_judge_discord_id")
        ),
    )
    op.create_table(
        "awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("place", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("decided_by_discord_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('shortlist', 'finalist', 'winner')", name=op.f("ck_awards_kind")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_awards_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awards")),
        sa.UniqueConstraint(
            "kind", "scope", "submission_id", name=op.f("uq_awards_kind_scope_submission_id")
        ),
    )
    op.create_table(
        "ceremonies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("order", _json(), nullable=False),
        sa.Column("revealed", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("started_by_discord_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'cancelled')", name=op.f("ck_ceremonies_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceremonies")),
    )


def downgrade() -> None:
    op.drop_table("ceremonies")
    op.drop_table("awards")
    op.drop_table("pairwise_judges")
    op.drop_table("pairwise_items")
    op.drop_index(op.f("ix_judge_comparisons_round"), table_name="judge_comparisons")
    op.drop_table("judge_comparisons")
    op.drop_index(op.f("ix_judge_reviews_judge_discord_id_round"), table_name="judge_reviews")
    op.drop_index(op.f("ix_judge_reviews_round_status"), table_name="judge_reviews")
    op.drop_table("judge_reviews")
    op.drop_index(op.f("ix_submission_versions_submission_id"), table_name="submission_versions")
    op.drop_table("submission_versions")
    op.drop_index(op.f("ix_submissions_repo_key"), table_name="submissions")
    op.drop_table("submissions")
