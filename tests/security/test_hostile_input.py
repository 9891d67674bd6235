"""Hostile and broken input in every string option and in the main modals.

The values come from hypothesis (deterministic: ``derandomize=True``), built from
what people really paste: nothing, blanks, 4,000 characters, RTL overrides and
zero-width characters, emoji, Markdown, ``@everyone``/``@here``, role, user and
channel mention syntax, invite links and URLs with odd schemes. A fixed list of
the worst cases is always included. Every option of type string of every command
in the bot's own command tree (``bot.cli._command_tree()``) gets them, through
the sandbox, as a member who may use the command.

For every value the bot must answer with a translated message (or store the
value), never with the "something broke" apology, never log an unhandled
error, and no message it sends may ping the user, the role, ``@everyone`` or
``@here`` that the text names (``message["_pinged"]`` in the sandbox).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.clock import utcnow
from bot.commands_export import describe
from bot.config import PHASE_FEATURES
from sandbox.driver import components as comp
from tests.cogs.test_registration import register

VICTIM_ROLE = "Bystanders"

# {user}, {role}, {channel} are filled with the bystander's ids at run time.
FRAGMENTS = (
    "@everyone",
    "@here",
    "<@{user}>",
    "<@!{user}>",
    "<@&{role}>",
    "<#{channel}>",
    "@Bystanders",
    "\u202e",  # right-to-left override
    "\u200f\u05e9\u05dc\u05d5\u05dd",  # RTL mark + Hebrew
    "\u0645\u0631\u062d\u0628\u0627",  # Arabic
    "\u200b",
    "\u200d",
    "\ufeff",
    "🦉",
    "👩🏽‍💻",
    "🏳️‍🌈",
    "**bold**",
    "__under__",
    "`code`",
    "```py\nx\n```",
    "||spoiler||",
    "> quote",
    "# Heading\n",
    "[link](https://evil.example)",
    "discord.gg/abc123",
    "https://discord.com/invite/abc123",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "data:text/html,<script>x</script>",
    "ftp://x.y/z",
    "\n",
    " ",
    "\t",
    "Owls",
    "é",
    "%s{0}{name}",
)

FIXED = (
    "",
    "   ",
    " \u200b\u200d\ufeff ",
    "x" * 4000,
    ("@everyone " * 400)[:4000],
    "@everyone",
    "@here",
    "<@{user}> <@!{user}> <@&{role}>",
    "\u202eTeam\u202c \u200f\u05e9\u05dc\u05d5\u05dd",
    "🦉🔥👩🏽‍💻" * 3,
    "**a** __b__ ~~c~~ ||d|| `e` > f\n# g",
    "discord.gg/abc https://discord.com/invite/x javascript:alert(1) file:///etc/passwd",
    "{name} {0} %s",
)

ESSENTIAL = ("", "x" * 4000, "<@{user}> <@!{user}> <@&{role}> @everyone @here \u202e\u200b")

hostile_text = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(min_size=0, max_size=12),
    min_size=0,
    max_size=6,
).map("".join)


def draw_values(n: int) -> list[str]:
    """``n`` hostile strings from hypothesis, the same on every run."""
    drawn: list[str] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_text)
    def collect(value: str) -> None:
        drawn.append(value)

    collect()
    return drawn


NOBODY_BENIGN = {
    "start": "2030-01-01 10:00",
    "key": "extra",
    "name": "Benign name",
    "summary": "A benign summary",
    "to": "everyone",
    "description": "Benign description",
}
SKIP_COMMANDS = {"admin import-registrants"}  # its only option is a file


def everything_open() -> dict[str, Any]:
    now = utcnow()
    return {
        "phases": [
            {
                "key": "all",
                "name": "All",
                "start": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
                "end": (now + timedelta(days=3)).isoformat(timespec="seconds"),
                "opens": sorted(PHASE_FEATURES),
            }
        ]
    }


def string_targets(bot) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(command, option) for every string option of the running bot's command tree (the
    same tree ``bot.cli._command_tree()`` builds, here taken from the bot under test)."""
    tree = describe(bot.tree)
    targets = []
    for command in tree:
        if command["path"] in SKIP_COMMANDS:
            continue
        for option in command["options"]:
            if option["type"] == "text":
                targets.append((command, option))
    return targets


class Watch:
    """Checks after every action: no apology, no logged error, no accidental ping."""

    def __init__(self, sb, caplog, bystander, role_id: int) -> None:
        self.sb = sb
        self.caplog = caplog
        self.bystander = bystander
        self.role_id = str(role_id)
        self.checked = 0

    def check(self, what: str, reply=None) -> None:
        if reply is not None:
            texts = [reply.all_text] + [f.all_text for f in reply.followups]
            for text in texts:
                assert "something broke" not in text and "Désolé" not in text, (what, text)
        errors = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        assert not errors, (what, [r.getMessage() for r in errors])
        for message in self.sb.server.messages.values():
            pinged = self.sb.pinged(message)
            assert not pinged.get("everyone") and not pinged.get("here"), (what, message)
            assert str(self.bystander.id) not in {str(u) for u in pinged.get("users", [])}, (
                what,
                message.get("content"),
            )
            assert self.role_id not in {str(r) for r in pinged.get("roles", [])}, (
                what,
                message.get("content"),
            )
        self.checked += 1


def fill(value: str, ids: dict[str, Any]) -> str:
    for key, replacement in ids.items():
        value = value.replace("{" + key + "}", str(replacement))
    return value


async def test_every_string_option_survives_hostile_input(start_sandbox, caplog):
    caplog.set_level(logging.WARNING)
    sb = await start_sandbox(everything_open())
    await sb.create_role(VICTIM_ROLE, mentionable=True)
    bystander = await sb.add_member("bystander", roles=[VICTIM_ROLE])
    ids = {"user": bystander.id, "role": sb.role(VICTIM_ROLE)["id"], "channel": 1}
    ids["channel"] = sb.channel("general").id
    captain = await sb.add_member("cap", roles=["Organiser", "Mentor", "Judge"], locale="en-US")
    await register(captain)
    created = await captain.slash("team create", name="Base")
    assert "Base" in created.all_text, created.all_text
    solo = await sb.add_member("solo", roles=["Organiser"], locale="fr")
    await register(solo)
    watch = Watch(sb, caplog, bystander, ids["role"])
    watch.check("setup")

    targets = string_targets(sb.bot)
    assert len(targets) >= 30, [t[0]["path"] for t in targets]
    drawn = draw_values(25)
    refused_by_client = 0
    for index, (command, option) in enumerate(targets):
        path = command["path"]
        # Every fixed worst case, plus a rotating pair of hypothesis' values.
        # The three worst cases for every option, plus one more fixed case and one of
        # hypothesis' values in rotation (the whole set stays fast on a small machine).
        values = [*ESSENTIAL, FIXED[index % len(FIXED)], drawn[index % len(drawn)]]
        actor = solo if path == "team create" else captain
        for raw in values:
            value = fill(raw, ids)
            kwargs: dict[str, Any] = {option["name"]["en"]: value}
            for other in command["options"]:
                name = other["name"]["en"]
                if other is option or not other["required"]:
                    continue
                if other["type"] == "member":
                    kwargs[name] = bystander
                elif other["type"] == "integer":
                    kwargs[name] = 1
                else:
                    kwargs[name] = NOBODY_BENIGN.get(name, "Benign")
            try:
                reply = await actor.slash(path, **kwargs)
            except ValueError:
                refused_by_client += 1  # Discord's client would not send it (length, choices)
                continue
            watch.check(f"/{path} {option['name']['en']}={value[:60]!r}", reply)
            assert reply.modal is not None or reply.all_text or reply.followups, (path, value)
            if path == "team create" and "Base" not in value:
                await solo.slash("team leave")
            if path == "help ask":
                await captain.slash("help cancel")
    assert watch.checked > len(targets) * 3
    assert refused_by_client < watch.checked


async def fill_modal_with(reply, value: str) -> dict[str, Any]:
    """Every text field of the modal gets ``value`` (fitted to its length limits); selects
    get their first option."""
    values: dict[str, Any] = {}
    for label, _top, inner in comp.modal_fields(reply.modal):
        if inner.get("type") == comp.TEXT_INPUT:
            text = value
            high = inner.get("max_length")
            if high is not None:
                text = text[: int(high)]
            low = int(inner.get("min_length") or 0)
            if inner.get("required", True) and len(text) < max(1, low):
                text = (text + "x" * max(1, low))[: int(high) if high else None]
            values[label] = text
        elif inner.get("type") in comp.SELECT_TYPES:
            options = inner.get("options") or []
            if options:
                values[label] = [options[0]["value"]]
    return values


async def test_main_modals_survive_hostile_input(start_sandbox, caplog):
    caplog.set_level(logging.WARNING)
    sb = await start_sandbox(everything_open())
    await sb.create_role(VICTIM_ROLE, mentionable=True)
    bystander = await sb.add_member("bystander", roles=[VICTIM_ROLE])
    ids = {"user": bystander.id, "role": sb.role(VICTIM_ROLE)["id"]}
    ids["channel"] = sb.channel("general").id
    organiser = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    watch = Watch(sb, caplog, bystander, ids["role"])
    values = [*ESSENTIAL, *FIXED[3:9], *draw_values(6)]
    forms = {"register": 0, "problem submit": 0, "submit": 0, "admin broadcast": 0, "lft": 0}
    for index, raw in enumerate(values):
        value = fill(raw, ids)
        person = await sb.add_member(f"p{index}", locale="fr" if index % 2 else "en-US")
        # /register: every text field hostile.
        form = await person.slash("register")
        try:
            reply = await form.submit(await fill_modal_with(form, value))
        except ValueError:
            reply = await register(person)
        else:
            forms["register"] += 1
        watch.check(f"register {value[:60]!r}", reply)
        if not person.has_role("Participant"):
            await register(person)
        for path in ("problem submit", "lft", "submit"):
            form = await person.slash(path)
            watch.check(f"/{path}", form)
            if form.modal is None:
                continue
            try:
                reply = await form.submit(await fill_modal_with(form, value))
            except ValueError:
                continue
            forms[path] += 1
            watch.check(f"{path} {value[:60]!r}", reply)
        form = await organiser.slash("admin broadcast", to="everyone")
        if form.modal is not None:
            try:
                reply = await form.submit(await fill_modal_with(form, value))
            except ValueError:
                continue
            forms["admin broadcast"] += 1
            watch.check(f"broadcast {value[:60]!r}", reply)
            for label in ("Cancel", "Annuler"):
                if label in reply.buttons:
                    await reply.click(label)
                    break
            watch.check("broadcast cancelled", reply)
    assert forms["register"] >= len(values) // 2, forms
    assert forms["problem submit"] >= len(values) // 2, forms


def test_error_messages_quote_at_most_a_hundred_characters_of_what_was_typed():
    from bot.interactions import clip

    assert clip("x" * 4000) == "x" * 99 + "…"
    assert clip("Owls") == "Owls" and clip(42) == 42
