"""Where a team's private space goes: pure planning, no Discord.

Discord allows 500 channels per server (categories included, threads not) and
50 channels per category. A team gets its own text channel (plus a voice channel
when the config asks) under a team category, "Teams", then "Teams 2", "Teams 3"...
as each fills up. Once a new team's channels would eat into the headroom kept for
the organisers, new teams get a private thread in the hub channel instead (threads
do not count against the 500). The hub itself is a channel: one channel of the
budget is kept for it until it exists, so the switch to threads never finds the
server full.

:class:`GuildLayout` is a snapshot of the counts; :func:`place` decides for one
team and :meth:`GuildLayout.apply` books the decision, so a batch (autoform) can
plan many teams in a row without asking Discord in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

GUILD_CHANNEL_LIMIT = 500
CATEGORY_CHANNEL_LIMIT = 50


@dataclass
class TeamCategory:
    id: int | None  # None: planned, not created yet
    name: str
    index: int  # 1 for "Teams", 2 for "Teams 2"...
    children: int


@dataclass
class GuildLayout:
    """What the server holds now, as far as team spaces care."""

    channels: int  # every channel and category of the server (threads excluded)
    categories: list[TeamCategory] = field(default_factory=list)
    base_name: str = "Teams"
    headroom: int = 50
    voice: bool = False
    hub_exists: bool = False
    limit: int = GUILD_CHANNEL_LIMIT
    per_category: int = CATEGORY_CHANNEL_LIMIT

    @property
    def budget(self) -> int:
        """Channels the bot may create for teams before touching the headroom."""
        return max(0, self.limit - self.headroom - self.channels)

    def apply(self, placement: Placement) -> None:
        """Book ``placement`` as if it had been carried out."""
        if placement.kind == "thread":
            if not self.hub_exists:
                self.hub_exists = True
                self.channels += 1
            return
        if placement.new_category is not None:
            self.categories.append(placement.new_category)
            self.channels += 1
        target = placement.new_category or self.find(placement.category_id)
        assert target is not None
        target.children += placement.channels
        self.channels += placement.channels

    def find(self, category_id: int | None) -> TeamCategory | None:
        return next((c for c in self.categories if c.id == category_id), None)


@dataclass(frozen=True)
class Placement:
    kind: Literal["channel", "thread"]
    # For a channel: the existing category (id), or a category to create first.
    category_id: int | None = None
    new_category: TeamCategory | None = None
    channels: int = 0  # channels the team itself takes (1, or 2 with voice)
    reason: str = ""  # why a thread: "budget"

    @property
    def category_name(self) -> str | None:
        return self.new_category.name if self.new_category else None


def category_name(base: str, index: int) -> str:
    return base if index == 1 else f"{base} {index}"


def category_index(name: str, base: str) -> int | None:
    """1 for ``base``, n for ``f"{base} {n}"``, None for anything else."""
    if name == base:
        return 1
    found = re.fullmatch(re.escape(base) + r" (\d{1,4})", name)
    if found and int(found[1]) >= 2:
        return int(found[1])
    return None


def place(layout: GuildLayout) -> Placement:
    """Channel (in which category) or private thread for the next team."""
    needed = 2 if layout.voice else 1
    room = next(
        (c for c in layout.categories if c.children + needed <= layout.per_category),
        None,
    )
    extra = 0 if room is not None else 1  # a new category is a channel too
    # Keep one channel for the hub: once channels run out, threads need it.
    reserve = 0 if layout.hub_exists else 1
    if layout.budget < needed + extra + reserve:
        return Placement(kind="thread", reason="budget")
    if room is not None:
        return Placement(kind="channel", category_id=room.id, channels=needed)
    index = max((c.index for c in layout.categories), default=0) + 1
    new = TeamCategory(
        id=None, name=category_name(layout.base_name, index), index=index, children=0
    )
    return Placement(kind="channel", new_category=new, channels=needed)
