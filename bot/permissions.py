"""The Discord permissions hackbot asks for when it is invited, and why.

Least privilege: no Administrator. Each entry says what needs it; the README
table and ``hackbot invite-url`` are built from this list.
"""

from __future__ import annotations

import discord

REQUIRED: tuple[tuple[str, str], ...] = (
    ("view_channel", "see the channels it manages"),
    (
        "manage_roles",
        "create the event roles, give the participant role, and set per-member access on team spaces",
    ),
    (
        "manage_channels",
        "create announcement, team, challenge and help channels and their categories",
    ),
    ("manage_threads", "archive and lock team threads and problem-statement posts"),
    ("create_public_threads", "open forum posts (problem statements, gallery)"),
    ("create_private_threads", "give teams private threads when the server runs out of channels"),
    ("send_messages", "reply and post announcements"),
    ("send_messages_in_threads", "post in team threads and forum posts"),
    ("embed_links", "show rich cards (profiles, teams, tickets, results)"),
    ("attach_files", "send CSV exports to organisers"),
    ("read_message_history", "find and edit its own pinned messages after a restart"),
    ("pin_messages", "pin the countdown and challenge descriptions"),
    ("mention_everyone", "ping a role for a phase broadcast (roles stay unmentionable by members)"),
    ("manage_events", "mirror the timeline as Discord scheduled events"),
    ("create_events", "create those scheduled events"),
)


#: Asked for only when an option needs it (``hackbot invite-url --onboarding``).
ONBOARDING: tuple[tuple[str, str], ...] = (
    (
        "manage_guild",
        "only with `[registration] onboarding = true`: add the onboarding question that gives "
        "the participant role (Discord requires Manage Server for it)",
    ),
)


def required_permissions(*, onboarding: bool = False) -> discord.Permissions:
    names = [name for name, _ in REQUIRED]
    if onboarding:
        names += [name for name, _ in ONBOARDING]
    return discord.Permissions(**{name: True for name in names})


def invite_url(client_id: int, *, onboarding: bool = False) -> str:
    return discord.utils.oauth_url(
        client_id,
        permissions=required_permissions(onboarding=onboarding),
        scopes=("bot", "applications.commands"),
    )


README_START = "<!-- permissions:start -->"
README_END = "<!-- permissions:end -->"


def readme_table() -> str:
    rows = [README_START, "| Permission | Why |", "|---|---|"]
    for name, why in REQUIRED:
        label = " ".join(word.capitalize() for word in name.split("_"))
        rows.append(f"| {label} | {why} |")
    rows.append(README_END)
    return "\n".join(rows)
