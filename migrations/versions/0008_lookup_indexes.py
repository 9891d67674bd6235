"""lookup indexes found by the benchmarks: a member's pending team requests

Revision ID: 0008_lookup_indexes
Revises: 0007_submissions
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_lookup_indexes"
down_revision: str | Sequence[str] | None = "0007_submissions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Joining a team withdraws the member's pending requests elsewhere: by member, not team.
    op.create_index(
        op.f("ix_team_requests_member_id_status"), "team_requests", ["member_id", "status"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_team_requests_member_id_status"), table_name="team_requests")
