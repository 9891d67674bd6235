"""A tiny plain discord.py bot for the sandbox's own tests (no hackbot code involved).

Its commands exercise what the sandbox must handle: replies, buttons, selects,
modals, autocomplete, deferral, late answers, mentions and member options.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands, ui
from discord.ext import commands


class JoinView(ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @ui.button(label="Join", custom_id="minibot:join", style=discord.ButtonStyle.primary)
    async def join(self, interaction: discord.Interaction, _button: ui.Button) -> None:
        await interaction.response.edit_message(
            content=f"{interaction.user.name} joined", view=None
        )

    @ui.button(label="Details", custom_id="minibot:details")
    async def details(self, interaction: discord.Interaction, _button: ui.Button) -> None:
        await interaction.response.send_message("only for you", ephemeral=True)

    @ui.select(
        custom_id="minibot:track",
        placeholder="Pick a track",
        options=[
            discord.SelectOption(label="Health", value="health"),
            discord.SelectOption(label="Climate", value="climate"),
        ],
    )
    async def track(self, interaction: discord.Interaction, select: ui.Select) -> None:
        await interaction.response.send_message(f"track {select.values[0]}", ephemeral=True)


class ProjectModal(ui.Modal, title="Project"):
    name = ui.TextInput(label="Title", max_length=20)
    pitch = ui.TextInput(label="Pitch", style=discord.TextStyle.paragraph, required=False)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"saved {self.name.value} / {self.pitch.value or '-'}", ephemeral=True
        )


class MiniBot(commands.Bot):
    """Records what it sees so tests can assert on discord.py's side too."""

    def __init__(
        self, guild_id: int, *, members: bool = True, message_content: bool = False
    ) -> None:
        intents = discord.Intents.default()
        intents.members = members
        intents.message_content = message_content
        super().__init__(command_prefix="!", intents=intents)
        self.guild_id = guild_id
        self.seen_messages: list[discord.Message] = []
        self.kept: dict[str, discord.Interaction] = {}
        self.add_view(JoinView())
        add_commands(self)

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=discord.Object(id=self.guild_id))

    async def on_message(self, message: discord.Message) -> None:
        self.seen_messages.append(message)


def add_commands(bot: MiniBot) -> None:
    guild = discord.Object(id=bot.guild_id)
    tree = bot.tree

    @tree.command(guild=guild, description="Say hello with buttons")
    async def about(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hello", view=JoinView())

    @tree.command(guild=guild, description="Think, then answer")
    async def slow(interaction: discord.Interaction, n: app_commands.Range[int, 1, 5]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send(f"done {n}")
        await interaction.followup.send("and one more")

    @tree.command(guild=guild, description="Defer and edit the original response")
    async def edit(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="edited")

    @tree.command(guild=guild, description="Answer too late")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.3)
        await interaction.response.send_message("too late")

    @tree.command(guild=guild, description="Answer with a file")
    async def export(interaction: discord.Interaction) -> None:
        data = io.BytesIO(b"team,score\nowls,3\n")
        await interaction.response.send_message("here", file=discord.File(data, "scores.csv"))

    @tree.command(guild=guild, description="Open a modal")
    async def form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ProjectModal())

    @tree.command(guild=guild, description="Keep the interaction for a later follow-up")
    async def keep(interaction: discord.Interaction) -> None:
        bot.kept["keep"] = interaction
        await interaction.response.send_message("kept", ephemeral=True)

    @tree.command(guild=guild, description="Mention people")
    async def ping(
        interaction: discord.Interaction, who: discord.Member, loud: bool = False
    ) -> None:
        mentions = discord.AllowedMentions(users=True) if loud else discord.AllowedMentions.none()
        await interaction.response.send_message(f"hi {who.mention}", allowed_mentions=mentions)

    @tree.command(guild=guild, description="Describe a channel")
    async def where(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await interaction.response.send_message(f"#{channel.name}", ephemeral=True)

    team = app_commands.Group(name="team", description="Teams", guild_ids=[bot.guild_id])

    @team.command(name="create", description="Create a team")
    async def team_create(
        interaction: discord.Interaction, name: app_commands.Range[str, 2, 20]
    ) -> None:
        await interaction.response.send_message(f"team {name} created", ephemeral=True)

    @team.command(name="join", description="Join a team")
    async def team_join(interaction: discord.Interaction, team: str) -> None:
        await interaction.response.send_message(f"joined {team}", ephemeral=True)

    @team_join.autocomplete("team")
    async def team_names(
        _interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = ["abacus", "abyss", "owls", "zebras"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    tree.add_command(team)

    @tree.context_menu(name="Greet", guild=guild)
    async def greet(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"hello {member.name}", ephemeral=True)


def factory(**kwargs: Any):
    """A ``bot_factory`` for ``Sandbox.start`` building a :class:`MiniBot`."""

    async def build(sb: Any) -> MiniBot:
        return MiniBot(sb.guild_id, **kwargs)

    return build
