"""A registration rush: many people send the form at the same moment; each is answered at
once and told when their participant role arrives, and the roles follow at Discord's pace.

Discord lets a bot change about 10 member roles per 10 seconds per server. The demo's
sandbox runs that bucket :data:`SPEEDUP` times faster (:func:`rate_limits`) so the rush
takes seconds, and the narration says so.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from bot.i18n import t

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import Reply, SandboxMember

#: How much faster than Discord the demo's sandbox lets the bot change member roles.
SPEEDUP = 10
ROLE_ROUTES = (
    "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}",
    "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}",
    "PATCH /guilds/{guild_id}/members/{user_id}",
)
ROLE_PUT = ROLE_ROUTES[0]
#: A bigger rush, for what the last person would read on a real server.
BIG_RUSH = 300

#: The rush: (name, Discord language, profile type).
RUSH = [
    (name, "fr" if i % 2 == 0 else "en-GB", kind)
    for i, (name, kind) in enumerate(
        zip(
            [
                "Adèle", "Ben", "Chloé", "Diane", "Élise", "Finn", "Gaël", "Hana", "Iris", "Jack",
                "Katia", "Liam", "Manon", "Nina", "Océane", "Paul", "Quentin", "Rosa", "Salomé",
                "Theo", "Ugo", "Vera", "Wassim", "Xavier", "Yanis", "Zara", "Anaïs", "Bilal",
                "Clara", "Dario", "Emma", "Farid", "Gabin", "Hélène", "Ilyes", "Jade",
                "Kenji", "Lina", "Malo", "Noor",
            ],
            ["developer", "design", "data", "domain expert", "product"] * 8,
            strict=True,
        )
    )
]  # fmt: skip


def rate_limits() -> dict[str, Any]:
    """The demo sandbox's rate limits: Discord's, with member roles :data:`SPEEDUP` times faster."""
    from sandbox.rules.ratelimit import DEFAULT_BUCKETS

    return {
        "bucket_overrides": {
            route: (DEFAULT_BUCKETS[route][0], DEFAULT_BUCKETS[route][1] / SPEEDUP)
            for route in ROLE_ROUTES
        }
    }


def _seconds(value: float, lang: str) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


async def scene_rush(demo: Demo) -> None:
    from bot.commands_meta import localized_path
    from bot.demo.teams import form_values
    from bot.outbox import eta_text
    from bot.transcript import duration
    from sandbox import SandboxMember
    from sandbox.rules.ratelimit import DEFAULT_BUCKETS

    sb, lang = demo.sb, demo.lang
    participant = sb.settings.roles.participant
    limit, per = rate_limits()["bucket_overrides"][ROLE_PUT]
    demo.heading("demo.scene.rush")
    joined = [sb.server.add_member(sb.guild, name, locale=locale) for name, locale, _ in RUSH]
    await sb.settle()
    crowd = [SandboxMember(sb, member["user"]["id"]) for member in joined]
    demo.say(
        "demo.rush.intro",
        count=len(crowd),
        command="/" + localized_path("register", lang),
        button=t("profile.button.autoform_off", lang),
    )

    # When Discord carried out each participant role (the sandbox sees every request).
    granted: dict[str, float] = {}

    def on_request(route: str, call: Any, _result: Any) -> None:
        if route == ROLE_PUT:
            granted[str(call.params["user_id"])] = time.monotonic()

    sb.server.after_handled.append(on_request)
    sb.settle_after_interaction = False  # many people at once: do not wait for the others
    try:
        forms: list[Reply] = []
        for i in range(0, len(crowd), 10):  # opening the form: a few at a time
            forms += await asyncio.gather(*(m.slash("register") for m in crowd[i : i + 10]))
        await asyncio.sleep(0.5)  # a human pause: the form is on screen, then sent
        began = time.monotonic()

        async def send(member: SandboxMember, form: Reply, kind: str) -> tuple[Reply, str, float]:
            languages = ["fr"] if member.locale.startswith("fr") else ["en", "fr"]
            values = form_values(demo, member, form, types=[kind], languages=languages, skills="")
            answer = await form.submit(values)
            return answer, answer.text or "", time.monotonic() - began

        answers = await asyncio.gather(
            *(send(m, form, kind) for m, form, (_, _, kind) in zip(crowd, forms, RUSH, strict=True))
        )
        answered = time.monotonic()
        backlog = {b.kind: b for b in sb.bot.outbox.backlog()}
        waiting = backlog.get("role.add")
        await asyncio.sleep(0.5)
        # They will form their own teams: out of the automatic matching later in the story.
        await asyncio.gather(
            *(
                answer.click(t("profile.button.autoform_off", _reader(member)))
                for member, (answer, _, _) in zip(crowd, answers, strict=True)
            )
        )
        await sb.bot.outbox.idle(within=120)
    finally:
        sb.settle_after_interaction = True
        sb.server.after_handled.remove(on_request)
    await sb.settle()
    demo.interactions += 3 * len(crowd)

    # One of the last five to get the role, reading Discord in the narration's language.
    order = sorted(crowd, key=lambda m: granted.get(str(m.id), float("inf")))
    last = next((m for m in reversed(order[-5:]) if _reader(m) == lang), order[-1])
    text = answers[crowd.index(last)][1]
    last_at = max(granted.values(), default=answered)
    demo.say(
        "demo.rush.answered",
        seconds=_seconds(max(s for _, _, s in answers), lang),
        who=last.display_name,
    )
    demo.say("demo.only_they_see", who=last.display_name)
    for line in demo.renderer(last).text(text).splitlines():
        demo.out("│ " + line)
    demo.say("demo.rush.why")
    demo.say("demo.rush.speedup", factor=SPEEDUP, rate=round(limit / per))
    took = last_at - answered
    demo.say(
        "demo.rush.measured",
        waiting=waiting.waiting if waiting else 0,
        eta=_seconds(waiting.eta_s if waiting else 0.0, lang),
        seconds=_seconds(took, lang),
        who=last.display_name,
        told=_announced(text, _reader(last)) or "-",
        real=duration(max(took, 0.0) * SPEEDUP, lang),
    )
    with_role = sum(m.has_role(participant) for m in crowd)
    demo.say("demo.rush.everyone", with_role=with_role, count=len(crowd), role=participant)
    real_limit, real_per = DEFAULT_BUCKETS[ROLE_PUT]
    demo.say("demo.rush.bigger", big=BIG_RUSH, eta=eta_text(BIG_RUSH * real_per / real_limit, lang))


def _reader(member: SandboxMember) -> str:
    return "fr" if (member.locale or "").startswith("fr") else "en"


def _announced(text: str, lang: str) -> str | None:
    """The "when" in the answer's line about the participant role ("in a few seconds")."""
    before, _, after = t("registration.role_coming", lang, eta="\x00").partition("\x00")
    for line in text.splitlines():
        if line.startswith(before) and line.endswith(after):
            return line[len(before) : len(line) - len(after)]
    return None
