"""Who may do what, as documented in bot/access.py, checked end to end.

Every slash command of the running bot's tree × every kind of member (bot/access.ROLES)
goes through the sandbox: allowed means the bot did not refuse with a permission or role
message; refused means the translated refusal named in the table, privately, with no modal,
no message posted anywhere and no row of the database changed. The important buttons are
pressed the same way by each kind of member. Organiser commands are also refused by the bot
itself, not only hidden by Discord: a member who has Manage Events through another role
still gets "Only organisers can use this command."
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import access
from bot.cli import _close_offline, _command_tree
from bot.commands_export import describe
from bot.i18n import catalogue
from bot.models import Base
from bot.services import registration as reg
from bot.services import teams as team_service
from cogs.teams import spaces
from sandbox.rules.permissions import P
from tests.cogs.test_registration import run_import
from tests.cogs.test_submissions import EN, FR, PROJECT

README = Path(__file__).resolve().parents[2] / "README.md"
MANAGE_EVENTS = 1 << 33
SEE = int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)

CONFIG = {
    "teams": {"min_size": 1, "max_size": 4},
    "help": {"ask_cooldown_minutes": 0},
    "formation": {"card_cooldown_minutes": 0, "request_cooldown_minutes": 0},
    "problems": {"cooldown_seconds": 0},
}

#: Half the people read French: refusals must come in their language.
LOCALES = {
    "unregistered": "fr",
    "participant": "en-US",
    "team_member": "fr",
    "captain": "en-US",
    "mentor": "fr",
    "judge": "en-US",
    "organiser": "fr",
}


# --------------------------------------------------------------------------
# Reading replies


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^{}]*\}", template)
    return re.compile(".+?".join(re.escape(part) for part in parts), re.DOTALL)


def says(text: str, key: str, lang: str | None = None) -> bool:
    """Is ``text`` the catalogue entry ``key`` (in ``lang``, or either language)?"""
    langs = [lang] if lang else ["en", "fr"]
    return any(_pattern(catalogue().raw(key, x)).fullmatch(text) for x in langs)


def lang_of(member) -> str:
    return "fr" if member.locale.startswith("fr") else "en"


#: Every refusal the table names, and the generic ones: an allowed action answers none of them.
REFUSALS = sorted(
    {
        rule.refusal
        for rules in [*access.COMMANDS.values(), *(c.rules for c in access.COMPONENTS)]
        for rule in rules.values()
        if rule.refusal
    }
    | {"error.organiser_only", "error.not_allowed", "error.unexpected", "teams.request_not_member"}
)


def refusal_in(text: str) -> str | None:
    return next((key for key in REFUSALS if says(text, key)), None)


#: What the bot changes on its own clock, whatever anyone types: the help desk's throttled
#: refresh of a waiting ticket's status message (what it shows, and the edit it stores in
#: the outbox). A refused command landing next to one of its passes must not count.
BACKGROUND_COLUMNS = {"help_tickets": {"shown", "shown_at"}}


def _background(table, row) -> bool:
    return table.name == "outbox" and row._mapping["kind"] == "message.edit"


async def database_rows(sb) -> dict[str, list[str]]:
    rows = {}
    async with sb.bot.db.read() as session:
        for table in Base.metadata.sorted_tables:
            skip = BACKGROUND_COLUMNS.get(table.name, set())
            columns = [c for c in table.columns if c.name not in skip]
            result = await session.execute(select(table))
            rows[table.name] = sorted(
                repr(tuple(row._mapping[c] for c in columns))
                for row in result.all()
                if not _background(table, row)
            )
    return rows


def public_messages(sb) -> int:
    return sum(1 for m in sb.server.messages.values() if not m.get("_ephemeral"))


@dataclass
class Checker:
    """Checks each outcome against the table and collects every mismatch."""

    sb: Any
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    async def before(self) -> tuple[int, dict[str, list[str]]]:
        await self.sb.settle()
        return public_messages(self.sb), await database_rows(self.sb)

    async def refused(self, what: str, member, rule: access.Rule, reply, before) -> None:
        self.checked += 1
        lang = lang_of(member)
        if not reply.ephemeral or reply.modal is not None:
            self.problems.append(f"{what}: refusal not private or a form opened: {reply!r}")
        if not says(reply.text, rule.refusal, lang):
            self.problems.append(f"{what}: expected {rule.refusal} ({lang}), got {reply!r}")
        await self.sb.settle()
        posted, rows = before
        if public_messages(self.sb) != posted:
            self.problems.append(f"{what}: a message was posted")
        after = await database_rows(self.sb)
        changed = [name for name in rows if rows[name] != after[name]]
        if changed:
            self.problems.append(f"{what}: the refusal changed {changed}")

    def allowed(self, what: str, reply) -> None:
        self.checked += 1
        found = refusal_in(reply.text)
        if found:
            self.problems.append(f"{what}: refused with {found}: {reply.text!r}")

    def hidden(self, what: str) -> None:
        self.checked += 1
        self.problems.append(f"{what}: Discord showed it")

    def report(self) -> None:
        assert not self.problems, f"{len(self.problems)} mismatches:\n" + "\n".join(self.problems)


# --------------------------------------------------------------------------
# The people


@dataclass
class World:
    """One of each kind of member. ``team_member`` is in team A (captained by ``filler_a``);
    ``captain`` captains team B (with ``filler_b``), so their actions never collide."""

    people: dict[str, Any]
    team_a: str
    team_b: str
    filler_a: Any
    filler_b: Any
    number: int


async def registered(sb, name: str, locale: str = "en-US"):
    """A participant registered straight in the database (/register has its own tests)."""
    member = await sb.add_member(name, locale=locale, roles=["Participant"])
    profile = reg.ProfileInput(name.title(), ["developer"], ["en"], "Europe/Paris")
    async with sb.bot.db.begin() as session:
        await reg.register(session, sb.settings, sb.clock.now(), int(member.id), profile)
    return member


async def with_team(sb, name: str, captain, *members, open_: bool) -> None:
    """A team with its space (made the way the bot makes it after /team create)."""
    now = sb.clock.now()
    async with sb.bot.db.begin() as session:
        change = await team_service.create_team(session, sb.settings, now, captain.id, name)
        for member in members:
            await team_service.admin_add(session, sb.settings, now, 0, name, member.id)
        await team_service.set_open(session, sb.settings, now, captain.id, open_)
    await spaces.team_changed(sb.bot, change.team_id)
    await sb.settle()


async def staff_roles(sb) -> dict[str, Any]:
    """The people whose role never changes: made once per sandbox."""
    return {
        "mentor": await sb.add_member("mentor", roles=["Mentor"], locale=LOCALES["mentor"]),
        "judge": await sb.add_member("judge", roles=["Judge"], locale=LOCALES["judge"]),
        "organiser": await sb.add_member(
            "organiser", roles=["Organiser"], locale=LOCALES["organiser"]
        ),
    }


async def world(sb, number: int, staff: dict[str, Any], *, open_teams: bool = True) -> World:
    team_a, team_b = f"Alpha {number}", f"Beta {number}"
    people = {
        "unregistered": await sb.add_member(f"u{number}", locale=LOCALES["unregistered"]),
        "participant": await registered(sb, f"p{number}", LOCALES["participant"]),
    }
    filler_a = await registered(sb, f"fa{number}")
    people["team_member"] = await registered(sb, f"m{number}", LOCALES["team_member"])
    await with_team(sb, team_a, filler_a, people["team_member"], open_=open_teams)
    people["captain"] = await registered(sb, f"c{number}", LOCALES["captain"])
    filler_b = await registered(sb, f"fb{number}")
    await with_team(sb, team_b, people["captain"], filler_b, open_=open_teams)
    people.update(staff)
    return World(people, team_a, team_b, filler_a, filler_b, number)


# --------------------------------------------------------------------------
# Slash commands


def options_for(path: str, w: World, role: str, command: dict[str, Any]) -> dict[str, Any]:
    """What each kind of member types: options that make the permission decision the one
    being tested (a real team, a real member, a real challenge)."""
    explicit = {
        "challenge info": {"challenge": "Clean Water"},
        "help ask": {"topic": "python", "description": "Our build fails at start-up"},
        "mentor skills": {"skills": "python"},
        "team captain": {"member": w.filler_b},
        "team kick": {"member": w.filler_b},
        "team create": {"name": f"Gamma {w.number} {role}"},
        "team info": {"team": w.team_a},
        "team invite": {"member": w.people["participant"]},
        "team join": {"team": w.team_a},
        "team joining": {"mode": "open"},
        "team rename": {"name": f"Renamed {w.number} {role}"},
    }
    if path in explicit:
        return explicit[path]
    kwargs = {}
    for option in command["options"]:
        if option["required"]:
            kwargs[option["name"]["en"]] = placeholder(option, w.people[role])
    return kwargs


async def prepare(path: str, w: World) -> None:
    """State without which the command would refuse for another reason than permissions."""
    if path in ("help cancel", "help status"):
        for role in ("team_member", "captain"):
            asked = await w.people[role].slash(
                "help ask", topic="python", description="Our build fails at start-up"
            )
            assert "#" in asked.text, asked.text


#: Commands that change a team or the help queue get people of their own; the others share.
FRESH_WORLD = {
    "team create",
    "team join",
    "team invite",
    "team leave",
    "team kick",
    "team captain",
    "team rename",
    "help ask",
    "help cancel",
    "help status",
}


def order(rules: dict[str, access.Rule]) -> list[str]:
    """Refusals first: an allowed action (leaving a team...) never changes what follows."""
    return sorted(access.ROLES, key=lambda role: rules[role].allowed)


@pytest.fixture
async def offline_tree():
    bot = await _command_tree()
    yield bot.tree
    await _close_offline(bot)


async def test_the_documented_table_covers_every_command_of_the_tree(offline_tree):
    missing, stale = access.coverage([c["path"] for c in describe(offline_tree)])
    assert not missing, f"commands with no entry in bot/access.py: {missing}"
    assert not stale, f"entries in bot/access.py for commands that do not exist: {stale}"
    for key in REFUSALS:
        assert catalogue().has(key), key


async def test_readme_shows_the_generated_table(offline_tree):
    readme = README.read_text(encoding="utf-8")
    table = access.markdown(describe(offline_tree))
    assert table in readme, (
        "README's 'Who may do what' table is stale: run `hackbot commands --access-markdown` "
        "and paste it into README.md"
    )


async def test_every_command_for_every_kind_of_member(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=False)
    staff = await staff_roles(sb)
    form = await staff["organiser"].slash(
        "admin challenge add", name="Clean Water", summary="Safe water for every village"
    )
    await form.submit({})
    checker = Checker(sb)
    commands = [c for c in describe(sb.bot.tree) if c["path"] in access.COMMANDS]
    shared = await world(sb, 0, staff)
    number = 0
    for command in commands:
        path = command["path"]
        rules = access.COMMANDS[path]
        if rules == access.ORGANISER_ONLY:
            continue  # the next tests
        w = shared
        if path in FRESH_WORLD:
            number += 1
            w = await world(sb, number, staff)
        await prepare(path, w)
        for role in order(rules):
            rule = rules[role]
            member = w.people[role]
            kwargs = options_for(path, w, role, command)
            what = f"/{path} by {role}"
            before = await checker.before()
            try:
                reply = await member.slash(path, **kwargs)
            except PermissionError:
                if not rule.hidden:
                    checker.problems.append(f"{what}: Discord did not show it")
                continue
            if rule.hidden:
                checker.hidden(what)
            elif rule.allowed:
                checker.allowed(what, reply)
            else:
                await checker.refused(what, member, rule, reply, before)
    checker.report()
    assert checker.checked >= 7 * 25


def placeholder(option: dict[str, Any], member) -> Any:
    if option["type"] == "member":
        return member
    if option["type"] == "integer":
        return 1
    if option["type"] == "file":
        return None
    choices = option.get("choices") or []
    if choices:
        first = choices[0]
        return first["value"] if isinstance(first, dict) else first
    return "x"


def organiser_commands(sb) -> list[dict[str, Any]]:
    found = [
        c for c in describe(sb.bot.tree) if access.COMMANDS.get(c["path"]) == access.ORGANISER_ONLY
    ]
    assert [c for c in describe(sb.bot.tree) if c["audience"] == "organiser"] == found
    return found


async def run_admin(sb, member, command: dict[str, Any]):
    kwargs = {}
    for option in command["options"]:
        if option["required"]:
            if option["type"] == "file":
                return await run_import(sb, member, b"email,name\n")
            kwargs[option["name"]["en"]] = placeholder(option, member)
    return await member.slash(command["path"], **kwargs)


async def test_every_organiser_command_is_refused_to_everyone_else_even_with_manage_events(
    start_sandbox,
):
    """Discord shows /admin only to members with Manage Events (its default permissions);
    a member can get Manage Events from another role (a "Staff" role made by hand, a
    moderator). The bot must still refuse every organiser command to anyone without the
    organiser role."""
    sb = await start_sandbox(CONFIG, rate_limits=False)
    staff = await staff_roles(sb)
    w = await world(sb, 1, staff)
    await sb.create_role("Staff", permissions=MANAGE_EVENTS)
    commands = organiser_commands(sb)
    assert len(commands) >= 25
    checker = Checker(sb)
    for role in access.ROLES:
        if role == "organiser":
            continue
        member = w.people[role]
        with pytest.raises(PermissionError):  # Discord hides /admin without Manage Events
            await member.slash("admin phase advance")
        await member.add_role("Staff")
        for command in commands:
            rule = access.COMMANDS[command["path"]][role]
            assert rule.hidden and rule.refusal == "error.organiser_only"
            before = await checker.before()
            reply = await run_admin(sb, member, command)
            await checker.refused(
                f"/{command['path']} by {role} + Manage Events", member, rule, reply, before
            )
    checker.report()


async def test_organisers_may_run_every_organiser_command(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=False)
    organiser = await sb.add_member("org", roles=["Organiser"], locale="fr")
    checker = Checker(sb)
    for command in organiser_commands(sb):
        reply = await run_admin(sb, organiser, command)
        checker.allowed(f"/{command['path']} by organiser", reply)
    checker.report()


# --------------------------------------------------------------------------
# Buttons


COMPONENTS = {item.key: item for item in access.COMPONENTS}


def custom_id(message: dict, prefix: str) -> str:
    for row in message.get("components") or []:
        for item in row.get("components") or []:
            if str(item.get("custom_id", "")).startswith(prefix):
                return item["custom_id"]
    raise LookupError(f"no component {prefix}… on {message.get('content')!r}")


def last_with(sb, channel, prefix: str) -> dict:
    for message in reversed(sb.channel(channel).messages):
        try:
            custom_id(message, prefix)
        except LookupError:
            continue
        return message
    raise LookupError(f"no message with {prefix}… in #{channel}")


def project(member) -> dict[str, str]:
    """A valid /submit form, with the labels in ``member``'s language."""
    labels = FR if lang_of(member) == "fr" else EN
    return {labels[key]: value for key, value in PROJECT.items()}


def space_of(team: str) -> str:
    return team.lower().replace(" ", "-")


async def press(checker: Checker, key: str, role: str, member, message: dict, prefix: str):
    """``member`` presses the component ``prefix…`` of ``message``, checked against the table.
    Where Discord hides it and the table names a refusal, an admin then lets them see the
    channel and the bot must refuse."""
    sb = checker.sb
    rule = COMPONENTS[key].rules[role]
    what = f"{key} by {role}"

    async def act():
        live = sb.server.messages[message["id"]]
        return await member.click(live, custom_id=custom_id(live, prefix))

    before = await checker.before()
    try:
        reply = await act()
    except PermissionError:
        if not rule.hidden:
            checker.problems.append(f"{what}: Discord did not show it")
            return None
        checker.checked += 1
        if rule.refusal and not message.get("_ephemeral"):
            channel = sb.channel(message["channel_id"])
            await sb.set_permissions(channel, member, allow=SEE)
            before = await checker.before()
            reply = await act()
            await checker.refused(f"{what} (shown by an admin)", member, rule, reply, before)
            sb.server.delete_overwrite(sb.guild, channel.data, str(member.id))
            await sb.settle()
        return None
    if rule.hidden:
        checker.hidden(what)
    elif rule.allowed:
        checker.allowed(what, reply)
    else:
        await checker.refused(what, member, rule, reply, before)
    return reply


async def everyone_presses(checker: Checker, key: str, w: World, message_for, prefix: str):
    """Each kind of member presses it, refusals first; ``message_for(role)`` is the message
    that kind of member would press (their own team's card...)."""
    for role in order(COMPONENTS[key].rules):
        await press(checker, key, role, w.people[role], message_for(role), prefix)


async def test_buttons_for_every_kind_of_member(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=False)
    staff = await staff_roles(sb)
    w = await world(sb, 1, staff, open_teams=False)
    people = w.people
    checker = Checker(sb)
    asker = await registered(sb, "asker")  # without a team: asks to join, is invited
    space_a, space_b = space_of(w.team_a), space_of(w.team_b)

    def a_or_b(channel_a: str, channel_b: str, prefix: str, b_roles=("captain",)):
        return lambda role: last_with(sb, channel_b if role in b_roles else channel_a, prefix)

    # Join requests: answered by the team's members only, in the team's space.
    for team in (w.team_a, w.team_b):
        asked = await asker.slash("team join", team=team)
        assert asked.text.startswith("Your request to join"), asked.text
    await everyone_presses(
        checker, "team.request", w, a_or_b(space_a, space_b, "team:req:"), "team:req:decline:"
    )

    # An invitation: in the invitee's direct messages.
    invited = await people["captain"].slash("team invite", member=people["participant"])
    assert invited.text.startswith("Invitation sent"), invited.text
    invitation = people["participant"].dms[-1]
    await everyone_presses(
        checker, "team.invitation", w, lambda role: invitation, "team:req:decline:"
    )

    # The board: a looking-for-team card and a team's card.
    posted = await asker.slash("lft")
    assert posted.text.startswith("Your card is on the board"), posted.text
    card = last_with(sb, "team-board", "lft:")
    await everyone_presses(checker, "lft.invite", w, lambda role: card, "lft:invite:")
    await everyone_presses(checker, "lft.talk", w, lambda role: card, "lft:talk:")
    recruit = await people["team_member"].slash("team recruit")
    done = await recruit.select(None, ["design"])
    assert "tableau" in done.text, done.text
    card = last_with(sb, "team-board", "team:ask:")
    await everyone_presses(checker, "team.ask", w, lambda role: card, "team:ask:")
    await everyone_presses(checker, "team.talk", w, lambda role: card, "team:talk:")

    # The help queue: a team's own request, the mentors' cards, the rating.
    async def both_ask() -> None:
        for role in ("team_member", "captain"):
            asked = await people[role].slash(
                "help ask", topic="python", description="Our build fails at start-up"
            )
            assert "#" in asked.text, asked.text

    await both_ask()
    await everyone_presses(
        checker, "help.cancel", w, a_or_b(space_a, space_b, "help:cancel:"), "help:cancel:"
    )
    await both_ask()
    tickets = {
        team: custom_id(last_with(sb, space, "help:cancel:"), "help:cancel:").rsplit(":", 1)[1]
        for team, space in (("a", space_a), ("b", space_b))
    }

    def card_of(role: str) -> dict:
        """The queue card of team B's ticket for the organiser, of team A's for the others."""
        suffix = ":" + tickets["b" if role == "organiser" else "a"]
        return next(
            m
            for m in sb.channel("help-queue").messages
            if any(
                str(c.get("custom_id", "")).endswith(suffix)
                for row in m.get("components") or []
                for c in row.get("components") or []
            )
        )

    await everyone_presses(checker, "help.claim", w, card_of, "help:claim:")
    other_mentor = await sb.add_member("mentor2", roles=["Mentor"])
    claimed = card_of("mentor")
    not_yours = await other_mentor.click(claimed, custom_id=custom_id(claimed, "help:resolve:"))
    assert says(not_yours.text, "help.not_yours", "en"), not_yours
    # Organisers act on any claim: one releases the mentor's, who takes it again.
    released = await people["organiser"].click(
        claimed, custom_id=custom_id(claimed, "help:release:")
    )
    assert refusal_in(released.text) is None, released
    again = await people["mentor"].click(
        card_of("mentor"), custom_id=custom_id(card_of("mentor"), "help:claim:")
    )
    assert refusal_in(again.text) is None, again
    await everyone_presses(checker, "help.resolve", w, card_of, "help:resolve:")
    await everyone_presses(
        checker, "help.rate", w, a_or_b(space_a, space_b, "help:rate:"), "help:rate:"
    )

    # A problem statement's Support button, in the forum: everyone, except its author.
    form = await asker.slash("problem submit")
    await form.submit(
        {
            "Title (one line)": "Buses skip the village",
            "What is the problem?": "The evening buses do not stop at the village any more.",
            "Who is affected?": "People without a car",
        }
    )
    post = next(t for t in sb.threads if t.name == "Buses skip the village").messages[0]
    own = await asker.click(post, custom_id=custom_id(post, "problem:support:"))
    assert says(own.text, "problems.support_own", "en"), own
    await everyone_presses(checker, "problem.support", w, lambda role: post, "problem:support:")

    # A challenge's Follow button, pinned in its channel.
    form = await people["organiser"].slash(
        "admin challenge add", name="Clean Water", summary="Safe water for every village"
    )
    await form.submit({})
    pinned = last_with(sb, "clean-water", "challenge:follow:")
    await everyone_presses(checker, "challenge.follow", w, lambda role: pinned, "challenge:follow:")

    # A submission's preview, then a judge's card: replies only their reader sees, checked
    # again when pressed (a member who left the team, a judge who lost the role).
    previews = {}
    for role in ("team_member", "captain"):
        opened = await people[role].slash("submit")
        previews[role] = await opened.submit(project(people[role]))
        assert previews[role].buttons[0] in ("Confirm", "Confirmer"), previews[role]
    await everyone_presses(
        checker,
        "submit.confirm",
        w,
        lambda role: previews.get(role, previews["team_member"]).message,
        "",  # the first button: Confirm
    )
    card = await people["judge"].slash("judge next")
    assert card.embeds, card
    await everyone_presses(checker, "judge.card", w, lambda role: card.message, "judge:skip:")
    checker.report()


async def test_buttons_on_a_private_reply_are_checked_again_when_pressed(start_sandbox):
    """A member taken out of their team while their submission preview is open, and a judge
    who lost the judge role while their card is open, are refused: the preview and the card
    remember who opened them, not that they were allowed then."""
    sb = await start_sandbox(CONFIG, rate_limits=False)
    staff = await staff_roles(sb)
    w = await world(sb, 1, staff)
    checker = Checker(sb)
    member, captain, judge = w.people["team_member"], w.people["captain"], w.people["judge"]
    preview = await (await member.slash("submit")).submit(project(member))
    kicked = await w.filler_a.slash("team kick", member=member)
    assert kicked.text.endswith(f"is no longer in **{w.team_a}**."), kicked.text
    before = await checker.before()
    confirm = await preview.click("Confirmer")
    rule = COMPONENTS["submit.confirm"].rules["participant"]
    await checker.refused("Confirm after leaving the team", member, rule, confirm, before)

    preview = await (await captain.slash("submit")).submit(project(captain))
    stored = await preview.click("Confirm")
    assert stored.text.startswith("✅ Submitted"), stored
    card = await judge.slash("judge next")
    assert card.embeds, card
    await judge.remove_role("Judge")
    rule = COMPONENTS["judge.card"].rules["participant"]
    for prefix in ("judge:score:", "judge:done:", "judge:skip:", "judge:broken:"):
        before = await checker.before()
        if prefix == "judge:score:":
            reply = await judge.select(card.message, custom_id(card.message, prefix), ["3"])
        else:
            reply = await judge.click(card.message, custom_id=custom_id(card.message, prefix))
        await checker.refused(f"{prefix} by a former judge", judge, rule, reply, before)
    checker.report()


async def test_organiser_previews_are_checked_again_when_pressed(start_sandbox):
    """Only the organiser sees the preview of an organiser command (and its Confirm); one who
    loses the role while a preview (or the review queue) is open cannot press it any more:
    every press of an organiser reply checks the role again."""
    from tests.cogs.test_judging import config as judging_config
    from tests.cogs.test_judging import projects, score

    settings = judging_config()
    settings["phases"][0]["opens"] += ["problem_collection", "team_changes"]
    sb = await start_sandbox({**CONFIG, **settings}, rate_limits=False)
    w = await world(sb, 1, await staff_roles(sb))
    org, judge = w.people["organiser"], w.people["judge"]
    checker = Checker(sb)

    await projects(sb, 2)
    for _ in range(2):
        await score(await judge.slash("judge next"), 4, 3)
    form = await w.people["participant"].slash("problem submit")
    await form.submit(
        {
            "Title (one line)": "Buses skip the village",
            "What is the problem?": "The evening buses do not stop at the village any more.",
            "Who is affected?": "People without a car",
        }
    )
    form = await org.slash("admin challenge add", name="Clean Water", summary="Safe water")
    await form.submit({})

    async def broadcast():
        form = await org.slash("admin broadcast", to="everyone")
        return await form.submit({"Titre": "Pizza", "Message": "Les pizzas sont là"})

    sent = await broadcast()
    await everyone_presses(checker, "admin.preview", w, lambda role: sent.message, "")

    previews = [
        (await org.slash("admin problem review"), "Passer"),
        (await org.slash("admin challenge remove", challenge="Clean Water"), "Retirer"),
        (await org.slash("admin phase remove", phase="judging"), "Retirer"),
        (await org.slash("admin judging winners"), "Confirmer"),
        (await broadcast(), "Envoyer"),
    ]
    for reply, label in previews:
        assert label in reply.buttons, reply
    await org.remove_role("Organiser")
    rule = COMPONENTS["admin.preview"].rules["participant"]
    for reply, label in previews:
        before = await checker.before()
        pressed = await reply.click(label)
        await checker.refused(f"{label} after losing the role", org, rule, pressed, before)
    checker.report()
