"""Who may do what: the documented answer for every slash command and for the buttons
members press, for each kind of member.

This table is the single source of truth. tests/security/test_permissions_matrix.py
drives every (command, role) pair and every listed button through the sandbox and
checks the bot does exactly this; a command of the bot's tree without an entry here
fails that test. The README's "Who may do what" table is generated from it
(``hackbot commands --access-markdown``).

The roles are people as the bot sees them:

* ``unregistered``: on the server, never ran ``/register``, no event role;
* ``participant``: registered, in no team;
* ``team_member``: registered, in a team, not its captain;
* ``captain``: registered, captain of a team;
* ``mentor``, ``judge``, ``organiser``: hold that ``[roles]`` role and did not register
  (organisers also get Manage Events at set-up, which makes Discord show ``/admin``).

A refusal is a private message in the member's language (the catalogue key is given
here) and nothing changes. ``hidden`` means Discord does not even show it to them (a
channel they cannot see, ``/admin`` without Manage Events); where a refusal key is given
too, the bot still refuses if a server admin shows it to them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES: tuple[str, ...] = (
    "unregistered",
    "participant",
    "team_member",
    "captain",
    "mentor",
    "judge",
    "organiser",
)

ROLE_LABELS = {
    "unregistered": "Not registered",
    "participant": "Participant without team",
    "team_member": "Team member",
    "captain": "Captain",
    "mentor": "Mentor",
    "judge": "Judge",
    "organiser": "Organiser",
}


@dataclass(frozen=True)
class Rule:
    """What one kind of member gets. ``refusal`` is the catalogue key of the bot's answer
    when it refuses; ``note`` qualifies the README cell ("own team", "captain only")."""

    allowed: bool
    refusal: str | None = None
    hidden: bool = False
    note: str = ""

    def cell(self) -> str:
        if self.allowed:
            mark = "✓"
        elif self.hidden:
            mark = "—"
        else:
            mark = "✗"
        return f"{mark} {self.note}".strip()


def yes(note: str = "") -> Rule:
    return Rule(True, note=note)


def no(key: str, note: str = "") -> Rule:
    return Rule(False, refusal=key, note=note)


def hidden(key: str | None = None, note: str = "") -> Rule:
    """Not shown by Discord; if shown anyway, the bot refuses with ``key`` (when given)."""
    return Rule(False, refusal=key, hidden=True, note=note)


def row(default: Rule, **by_role: Rule) -> dict[str, Rule]:
    unknown = set(by_role) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return {role: by_role.get(role, default) for role in ROLES}


EVERYONE = row(yes())
NOT_REGISTERED = no("teams.not_registered", "register first")
CAPTAIN_ONLY = row(
    NOT_REGISTERED,
    participant=no("teams.not_in_team", "needs a team"),
    team_member=no("teams.captain_only", "captain only"),
    captain=yes("own team"),
)
TEAM_MEMBERS = row(
    NOT_REGISTERED,
    participant=no("teams.not_in_team", "needs a team"),
    team_member=yes("own team"),
    captain=yes("own team"),
)
WITHOUT_TEAM = row(
    NOT_REGISTERED,
    participant=yes(),
    team_member=no("teams.already_in_team_named", "already in a team"),
    captain=no("teams.already_in_team_named", "already in a team"),
)
HELP_TEAMS = row(
    no("help.no_team", "needs a team"),
    team_member=yes("own team"),
    captain=yes("own team"),
)
MENTORS = row(no("help.mentor_only"), mentor=yes(), organiser=yes())
ORGANISER_ONLY = row(
    hidden("error.organiser_only"),
    organiser=yes(),
)

#: Every slash command of the bot, by its English path.
COMMANDS: dict[str, dict[str, Rule]] = {
    "about": EVERYONE,
    "schedule": EVERYONE,
    "register": EVERYONE,
    "challenge info": EVERYONE,
    "challenge list": EVERYONE,
    "profile": row(
        NOT_REGISTERED,
        participant=yes("own profile"),
        team_member=yes("own profile"),
        captain=yes("own profile"),
    ),
    "lft": row(
        NOT_REGISTERED,
        participant=yes(),
        team_member=no("lft.already_in_team", "already in a team"),
        captain=no("lft.already_in_team", "already in a team"),
    ),
    "problem submit": row(
        no("problems.participants_only", "participant role needed"),
        participant=yes(),
        team_member=yes(),
        captain=yes(),
        organiser=yes(),
    ),
    "team create": WITHOUT_TEAM,
    "team join": WITHOUT_TEAM,
    "team info": EVERYONE,
    "team list": EVERYONE,
    "team invite": TEAM_MEMBERS,
    "team leave": TEAM_MEMBERS,
    "team recruit": TEAM_MEMBERS,
    "team captain": CAPTAIN_ONLY,
    "team challenge": CAPTAIN_ONLY,
    "team joining": CAPTAIN_ONLY,
    "team kick": CAPTAIN_ONLY,
    "team rename": CAPTAIN_ONLY,
    "help ask": HELP_TEAMS,
    "help cancel": HELP_TEAMS,
    "help status": HELP_TEAMS,
    "submit": row(
        no("submissions.no_team", "needs a team"),
        team_member=yes("own team"),
        captain=yes("own team"),
    ),
    "mentor duty on": MENTORS,
    "mentor duty off": MENTORS,
    "mentor queue": MENTORS,
    "mentor skills": MENTORS,
    "judge next": row(no("judging.judges_only"), judge=yes()),
    **{
        "admin " + path: ORGANISER_ONLY
        for path in (
            "broadcast",
            "challenge add",
            "challenge edit",
            "challenge remove",
            "export",
            "help close",
            "help open",
            "help stats",
            "import-registrants",
            "judging ceremony",
            "judging finalists",
            "judging shortlist",
            "judging status",
            "judging winners",
            "judging winner-remove",
            "judging winner-set",
            "phase add",
            "phase advance",
            "phase edit",
            "phase extend",
            "phase override",
            "phase remove",
            "problem review",
            "problem stats",
            "repair",
            "status",
            "submission reopen",
            "submission status",
            "team add",
            "team archive",
            "team captain",
            "team remove",
            "team rename",
            "teams autoform",
            "teams report",
        )
    },
}


@dataclass(frozen=True)
class Component:
    """A button or menu members press on a message the bot posted."""

    key: str
    label: str  # as the README names it
    where: str
    rules: dict[str, Rule]


#: The buttons on messages others can see (buttons on a reply only its reader sees follow
#: the rule of the command that made the reply, and are checked again when pressed).
COMPONENTS: tuple[Component, ...] = (
    Component(
        "team.request",
        "Accept / Decline on a join request",
        "the team's space",
        row(
            hidden("teams.request_not_member"),
            team_member=yes("own team"),
            captain=yes("own team"),
            organiser=no("teams.request_not_member", "sees it, cannot answer"),
        ),
    ),
    Component(
        "team.invitation",
        "Accept / Decline on an invitation",
        "the invitee's direct messages",
        row(hidden(), participant=yes("the invitee")),
    ),
    Component(
        "lft.invite",
        "Invite to my team (looking-for-team card)",
        "the board",
        TEAM_MEMBERS,
    ),
    Component(
        "lft.talk",
        "Start a conversation (looking-for-team card)",
        "the board",
        row(NOT_REGISTERED, participant=yes(), team_member=yes(), captain=yes()),
    ),
    Component(
        "team.ask",
        "Ask to join (team card)",
        "the board",
        WITHOUT_TEAM,
    ),
    Component(
        "team.talk",
        "Talk to the captain (team card)",
        "the board",
        row(NOT_REGISTERED, participant=yes(), team_member=yes(), captain=yes()),
    ),
    Component(
        "help.claim",
        "Claim (help queue card)",
        "the help queue channel",
        row(hidden("help.mentor_only"), mentor=yes(), organiser=yes()),
    ),
    Component(
        "help.resolve",
        "Resolve / Release (claimed card)",
        "the help queue channel",
        row(
            hidden("help.mentor_only"),
            mentor=yes("own claim"),
            organiser=yes(),
        ),
    ),
    Component(
        "help.cancel",
        "Cancel the request (team's status message)",
        "the team's space",
        row(
            hidden("help.cancel.not_team"),
            team_member=yes("own team"),
            captain=yes("own team"),
            organiser=no("help.cancel.not_team", "sees it, cannot cancel"),
        ),
    ),
    Component(
        "help.rate",
        "1 ★ … 5 ★ (rating the help)",
        "the team's space",
        row(
            hidden("help.rate.not_team"),
            team_member=yes("own team"),
            captain=yes("own team"),
            organiser=no("help.rate.not_team", "sees it, cannot rate"),
        ),
    ),
    Component(
        "problem.support",
        "👍 Support (problem statement; not one's own)",
        "the problem-statements forum",
        EVERYONE,
    ),
    Component(
        "challenge.follow",
        "🔔 Follow (challenge)",
        "the challenge's channel, `/challenge info`",
        EVERYONE,
    ),
    Component(
        "submit.confirm",
        "Confirm (submission preview)",
        "the submitter's own reply",
        row(
            hidden("submissions.no_team"),
            team_member=yes("own team"),
            captain=yes("own team"),
        ),
    ),
    Component(
        "judge.card",
        "Score menus, Save, Skip, 🚩 (judging card)",
        "the judge's own reply",
        row(hidden("judging.judges_only"), judge=yes()),
    ),
    Component(
        "admin.preview",
        "Confirm, review buttons (organiser previews)",
        "the organiser's own reply",
        row(
            hidden("error.organiser_only"),
            organiser=yes(),
        ),
    ),
)


# --------------------------------------------------------------------------
# Checks and the README table


def coverage(paths: list[str]) -> tuple[list[str], list[str]]:
    """Commands of the tree without an entry, and entries naming no command."""
    known = set(paths)
    return sorted(known - set(COMMANDS)), sorted(set(COMMANDS) - known)


README_START = "<!-- access-matrix:start -->"
README_END = "<!-- access-matrix:end -->"

LEGEND = (
    "✓ allowed · ✗ refused by the bot (a private message in the member's language; nothing "
    "changes) · — not shown to them by Discord (`/admin` without Manage Events, a channel or a "
    "reply they cannot see); where a server admin shows it to them anyway, the bot still refuses"
)

FOOTNOTE = (
    "Buttons on a reply only its reader sees (previews, judging cards, list pages, the recruit "
    "menu) are checked again when pressed: someone who left their team, or lost the judge or "
    "organiser role, since the reply was shown is refused."
)


def _table_row(first: str, rules: dict[str, Rule]) -> str:
    return "| " + " | ".join([first, *(rules[role].cell() for role in ROLES)]) + " |"


def markdown(commands: list[dict[str, Any]] | None = None) -> str:
    """The README's table between its markers. ``commands`` (from
    :func:`bot.commands_export.describe`) orders the rows as the bot's tree does; every
    command with the organiser-only rule is one ``/admin …`` row."""
    paths = [c["path"] for c in commands] if commands else sorted(COMMANDS)
    header = "| Command | " + " | ".join(ROLE_LABELS[role] for role in ROLES) + " |"
    lines = [README_START, "", LEGEND, "", header, "|" + "---|" * (len(ROLES) + 1)]
    admin = [p for p in paths if COMMANDS.get(p) == ORGANISER_ONLY]
    for path in paths:
        if path in admin or path not in COMMANDS:
            continue
        lines.append(_table_row(f"`/{path}`", COMMANDS[path]))
    if admin:
        lines.append(_table_row(f"every `/admin …` command ({len(admin)})", ORGANISER_ONLY))
    lines += [
        "",
        "| Button | Where | " + " | ".join(ROLE_LABELS[role] for role in ROLES) + " |",
        "|" + "---|" * (len(ROLES) + 2),
    ]
    for item in COMPONENTS:
        cells = [item.label, item.where, *(item.rules[role].cell() for role in ROLES)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", FOOTNOTE, "", README_END]
    return "\n".join(lines)
