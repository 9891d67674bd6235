"""The single error path: what a user reads for each kind of failure."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import discord
from discord import app_commands

from bot.errors import HackbotError
from bot.interactions import report_error, reports_errors


class FakeResponse:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def is_done(self) -> bool:
        return False

    async def send_message(self, content=None, **kwargs):
        self.sent.append((content, kwargs))


def fake_interaction(locale: str = "fr"):
    settings = SimpleNamespace(event=SimpleNamespace(language="en"))
    return SimpleNamespace(
        id=1,
        client=SimpleNamespace(settings=settings),
        locale=discord.Locale(locale),
        created_at=discord.utils.utcnow() - timedelta(seconds=4),
        response=FakeResponse(),
        user=SimpleNamespace(id=2),
        command=None,
        data={},
    )


def http_error(cls, status: int, code: int):
    response = SimpleNamespace(status=status, reason="x")
    return cls(response, {"code": code, "message": "Unknown interaction"})


async def test_domain_error_is_translated_and_ephemeral():
    interaction = fake_interaction("fr")
    command = SimpleNamespace(name="about", qualified_name="about")
    error = app_commands.CommandInvokeError(command, HackbotError("error.not_allowed"))
    await report_error(interaction, error)
    ((content, kwargs),) = interaction.response.sent
    assert content == "Vous n'avez pas le droit de faire cela."
    assert kwargs["ephemeral"] is True
    assert kwargs["allowed_mentions"].everyone is False


async def test_an_expired_interaction_is_logged_not_answered(caplog):
    interaction = fake_interaction()
    with caplog.at_level(logging.WARNING, logger="bot.interactions"):
        await report_error(interaction, http_error(discord.NotFound, 404, 10062))
    assert interaction.response.sent == []
    assert any("expired" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


async def test_other_discord_errors_get_the_apology_with_an_id(caplog):
    interaction = fake_interaction("en-US")
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        await report_error(interaction, http_error(discord.Forbidden, 403, 50013))
    ((content, _),) = interaction.response.sent
    assert content.startswith("Sorry, something broke on our side.")
    assert caplog.records[0].exc_info


def test_an_autocomplete_that_failed_for_load_is_one_warning_line_not_a_traceback():
    import logging

    from bot.db import Busy
    from bot.interactions import _LateAutocomplete

    def record(error: Exception, msg: str = "Ignoring exception in autocomplete for %r"):
        return logging.LogRecord(
            "discord.app_commands.tree",
            logging.ERROR,
            __file__,
            1,
            msg,
            ("team join",),
            (type(error), error, None),
        )

    busy = record(Busy())
    assert _LateAutocomplete().filter(busy)
    assert busy.levelno == logging.WARNING and busy.exc_info is None
    assert busy.getMessage() == (
        "Ignoring exception in autocomplete for 'team join' "
        "(the database was busy: no suggestions this time)"
    )
    bug = record(ValueError("a real bug"))
    assert _LateAutocomplete().filter(bug)
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
    elsewhere = record(Busy(), "Ignoring exception in command %r")
    assert _LateAutocomplete().filter(elsewhere) and elsewhere.levelno == logging.ERROR


async def test_an_autocomplete_that_waited_too_long_is_dropped_unanswered():
    from datetime import timedelta
    from types import SimpleNamespace

    import discord

    from bot.interactions import HackTree

    tree = HackTree.__new__(HackTree)
    now = discord.utils.utcnow()

    def interaction(kind, waited: float):
        return SimpleNamespace(type=kind, created_at=now - timedelta(seconds=waited))

    autocomplete = discord.InteractionType.autocomplete
    assert await tree.interaction_check(interaction(autocomplete, 0.2))
    assert not await tree.interaction_check(interaction(autocomplete, 2.8))
    # A command is always handled: its first answer (or deferral) still has a chance.
    assert await tree.interaction_check(
        interaction(discord.InteractionType.application_command, 2.8)
    )


class _Card:
    """Stands for a DynamicItem: discord.py wraps those in a plain View of its own, so
    their callbacks report their errors through ``reports_errors``."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.pressed = 0

    @reports_errors
    async def callback(self, interaction) -> None:
        self.pressed += 1
        if self.error is not None:
            raise self.error


async def test_a_button_callback_error_is_answered_like_a_command_error(caplog):
    refused = fake_interaction("fr")
    await _Card(HackbotError("error.not_allowed")).callback(refused)
    ((content, kwargs),) = refused.response.sent
    assert content == "Vous n'avez pas le droit de faire cela."
    assert kwargs["ephemeral"] is True

    broken = fake_interaction("en-GB")
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        await _Card(RuntimeError("boom")).callback(broken)
    ((content, _),) = broken.response.sent
    assert content.startswith("Sorry, something broke on our side.")
    assert any("unexpected error" in r.getMessage() for r in caplog.records)

    fine = fake_interaction("en-GB")
    card = _Card(None)
    await card.callback(fine)
    assert card.pressed == 1 and fine.response.sent == []
    assert _Card.callback.__name__ == "callback"
