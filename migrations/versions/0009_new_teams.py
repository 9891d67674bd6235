"""new_teams: creating a team is its own phase feature

Before this revision, ``team_changes`` let participants both create teams and change
membership. A stored timeline that never mentions ``new_teams`` gets it in every phase
that opens ``team_changes``, so an event upgraded mid-way behaves as before.

Revision ID: 0009_new_teams
Revises: 0008_lookup_indexes
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_new_teams"
down_revision: str | Sequence[str] | None = "0008_lookup_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


phases = sa.table("phases", sa.column("id", sa.Integer), sa.column("opens", _json()))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(phases.c.id, phases.c.opens)).all()
    if any("new_teams" in (opens or []) for _id, opens in rows):
        return
    for phase_id, opens in rows:
        if "team_changes" in (opens or []):
            bind.execute(
                phases.update()
                .where(phases.c.id == phase_id)
                .values(opens=sorted({*opens, "new_teams"}))
            )


def downgrade() -> None:
    bind = op.get_bind()
    for phase_id, opens in bind.execute(sa.select(phases.c.id, phases.c.opens)).all():
        if "new_teams" in (opens or []):
            bind.execute(
                phases.update()
                .where(phases.c.id == phase_id)
                .values(opens=sorted(set(opens) - {"new_teams"}))
            )
