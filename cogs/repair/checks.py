"""The checkers, in the order a run takes them.

Roles and the bot's channels come first (team spaces and challenge homes give roles
overwrites); members who left before team spaces (so they are not granted again); the
challenge role before its home (a home made again keeps the role).
"""

from __future__ import annotations

from cogs.repair import challenges, gallery, structure, teams, timeline
from cogs.repair.registry import Checker

CHECKERS: tuple[Checker, ...] = (
    Checker("roles", structure.check_roles),
    Checker("channels", structure.check_channels),
    Checker("role_overwrites", structure.check_role_overwrites),
    Checker("members_left", teams.check_members_left),
    Checker("team_spaces", teams.check_team_spaces),
    Checker("challenges", challenges.check_challenges),
    Checker("gallery", gallery.check_gallery),
    Checker("countdown", timeline.check_countdown),
    Checker("scheduled_events", timeline.check_events),
)
