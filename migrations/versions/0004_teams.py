"""teams: registrant list, profiles, teams, members, join requests, space access, autoform runs

Revision ID: 0004_teams
Revises: 0003_problems
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_teams"
down_revision: str | Sequence[str] | None = "0003_problems"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registrants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("imported_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrants")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_registrants_email_hash")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_registrants_code_hash")),
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("profile_types", _json(), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("languages", _json(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("wishes", _json(), nullable=False),
        sa.Column("autoform", sa.Boolean(), nullable=False),
        sa.Column("registrant_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", _ts(), nullable=False),
        sa.Column("card_posted_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_profiles_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registrant_id"],
            ["registrants.id"],
            name=op.f("fk_profiles_registrant_id_registrants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("member_id", name=op.f("uq_profiles_member_id")),
        sa.UniqueConstraint("registrant_id", name=op.f("uq_profiles_registrant_id")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_folded", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=True),
        sa.Column("captain_member_id", sa.Integer(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("looking_for", _json(), nullable=False),
        sa.Column("space_kind", sa.String(length=16), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("voice_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("card_posted_at", _ts(), nullable=True),
        sa.Column("autoform_run_id", sa.Integer(), nullable=True),
        sa.Column("archived_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name=op.f("fk_teams_challenge_id_challenges"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["captain_member_id"],
            ["members.id"],
            name=op.f("fk_teams_captain_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name_folded", name=op.f("uq_teams_name_folded")),
        sa.UniqueConstraint("slug", name=op.f("uq_teams_slug")),
    )
    op.create_index(op.f("ix_teams_challenge_id"), "teams", ["challenge_id"])
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_team_members_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("member_id", name=op.f("uq_team_members_member_id")),
    )
    op.create_index(op.f("ix_team_members_team_id"), "team_members", ["team_id"])
    op.create_table(
        "team_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("by_member_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("decided_by_discord_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('request', 'invite')", name=op.f("ck_team_requests_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn')",
            name=op.f("ck_team_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_requests_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_team_requests_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["by_member_id"],
            ["members.id"],
            name=op.f("fk_team_requests_by_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_requests")),
    )
    op.create_index(
        op.f("ix_team_requests_team_id_member_id_status"),
        "team_requests",
        ["team_id", "member_id", "status"],
    )
    op.create_table(
        "team_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("granted_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_access_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_access")),
        sa.UniqueConstraint(
            "team_id", "discord_id", name=op.f("uq_team_access_team_id_discord_id")
        ),
    )
    op.create_index(op.f("ix_team_access_discord_id"), "team_access", ["discord_id"])
    op.create_table(
        "autoform_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("challenge_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_discord_id", sa.BigInteger(), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("figures", _json(), nullable=False),
        sa.Column("team_ids", _json(), nullable=False),
        sa.Column("done_spaces", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "status IN ('preview', 'spaces', 'done', 'cancelled', 'stale')",
            name=op.f("ck_autoform_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autoform_runs")),
    )


def downgrade() -> None:
    op.drop_table("autoform_runs")
    op.drop_index(op.f("ix_team_access_discord_id"), table_name="team_access")
    op.drop_table("team_access")
    op.drop_index(op.f("ix_team_requests_team_id_member_id_status"), table_name="team_requests")
    op.drop_table("team_requests")
    op.drop_index(op.f("ix_team_members_team_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_index(op.f("ix_teams_challenge_id"), table_name="teams")
    op.drop_table("teams")
    op.drop_table("profiles")
    op.drop_table("registrants")
