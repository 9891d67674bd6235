"""Discord's documented limits, checked the way the API enforces them.

Every ``check_*`` function takes Discord-JSON-shaped dicts and either returns
``None`` or raises :class:`~sandbox.rules.errors.DiscordError`:

* count limits (500 channels, 250 roles, ...) raise the dedicated JSON error
  code (30013, 30005, ...) with status 400;
* field limits raise 400/50035 "Invalid Form Body" with an ``errors`` tree
  shaped like Discord's: nested dicts keyed by field name or list index (as a
  string), ending in ``{"_errors": [{"code": ..., "message": ...}]}``.

All the violations of one payload are collected into one tree, as Discord does.
Type errors the OpenAPI validator would report are noted here too, so the checks
never crash on a malformed payload, but the schema is the authority on types.

``validate_invocation`` is the other direction: it checks a simulated user's
slash command against the command JSON the bot registered, and builds the
interaction ``data.options`` Discord would send.

Command size (8000 characters): Discord counts the name, description and
"value" properties of the command, its options (subcommands and groups
included) and choices; where localizations exist, only the longest of the
default and its localizations counts for each field. This module counts
``name`` and ``description`` of the command and of every option, ``name`` and
``str(value)`` of every choice, each as ``max(len(default), len(longest
localization))``.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sandbox.rules.errors import DiscordError, invalid_form_body

# --- limits (Discord docs; see /work/shared/notes/discord-platform.md) -------------------

MESSAGE_CONTENT_MAX = 2000
NONCE_MAX = 25
STICKERS_MAX = 3
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
ALLOWED_MENTIONS_IDS_MAX = 100
POLL_QUESTION_MAX = 300
POLL_ANSWERS_MAX = 10
POLL_ANSWER_MAX = 55
POLL_DURATION_MAX_HOURS = 768  # 32 days

ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
SELECT_PLACEHOLDER_MAX = 150
SELECT_OPTION_TEXT_MAX = 100
V2_COMPONENTS_TOTAL_MAX = 40
V2_TEXT_TOTAL_MAX = 4000
IS_COMPONENTS_V2 = 1 << 15

MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
MODAL_LABEL_MAX = 45
LABEL_DESCRIPTION_MAX = 100
TEXT_INPUT_MAX_LENGTH = 4000
TEXT_INPUT_PLACEHOLDER_MAX = 100

COMMAND_NAME_MAX = 32
COMMAND_DESCRIPTION_MAX = 100
COMMAND_OPTIONS_MAX = 25
COMMAND_CHOICES_MAX = 25
COMMAND_CHOICE_NAME_MAX = 100
COMMAND_CHOICE_STRING_VALUE_MAX = 100
COMMAND_STRING_LENGTH_MAX = 6000
COMMAND_SIZE_MAX = 8000
CHAT_INPUT_COMMANDS_MAX = 100
# USER and MESSAGE (context menu) commands: Discord raised this from 5 to 15.
CONTEXT_MENU_COMMANDS_MAX = 15
COMMAND_CREATES_PER_DAY = 200
NUMBER_ABS_MAX = 2**53

GUILD_CHANNELS_MAX = 500
CATEGORY_CHANNELS_MAX = 50
CHANNEL_NAME_MAX = 100
CHANNEL_TOPIC_MAX = 1024
FORUM_TOPIC_MAX = 4096
SLOWMODE_MAX = 21600
GUILD_ROLES_MAX = 250
ROLE_NAME_MAX = 100
ACTIVE_THREADS_MAX = 1000
THREAD_MEMBERS_MAX = 1000
PINS_MAX = 250
SCHEDULED_EVENTS_MAX = 100
FORUM_APPLIED_TAGS_MAX = 5
# Forum tags (docs, "Forum Tag Object": name "0-20 characters"; "available_tags ... can be
# used in a GUILD_FORUM or a GUILD_MEDIA channel; limited to 20"). The OpenAPI description
# lets names run to 50 characters; the docs' 20 is what Discord enforces.
FORUM_TAGS_MAX = 20
FORUM_TAG_NAME_MAX = 20
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
# Guild onboarding. The counts and lengths are those of Discord's OpenAPI description
# (UpdateGuildOnboardingRequest, UpdateOnboardingPromptRequest,
# OnboardingPromptOptionRequest); its docs give none of them. The default-channel
# requirements are the docs' ("Modify Guild Onboarding": at least 7 default channels, at
# least 5 of them allowing @everyone to send messages, when onboarding is enabled).
ONBOARDING_PROMPTS_MAX = 15
ONBOARDING_OPTIONS_MAX = 50
ONBOARDING_PROMPT_TITLE_MAX = 100
ONBOARDING_OPTION_TITLE_MAX = 50
ONBOARDING_OPTION_DESCRIPTION_MAX = 100
ONBOARDING_OPTION_EMOJI_NAME_MAX = 100
ONBOARDING_OPTION_IDS_MAX = 50  # role_ids, and channel_ids, of one option
ONBOARDING_DEFAULT_CHANNELS_MAX = 500
ONBOARDING_DEFAULT_CHANNELS_MIN = 7
ONBOARDING_SENDABLE_CHANNELS_MIN = 5
ONBOARDING_PROMPT_TYPES = (0, 1)  # MULTIPLE_CHOICE, DROPDOWN
ONBOARDING_MODES = (0, 1)  # ONBOARDING_DEFAULT, ONBOARDING_ADVANCED

# Uploads (docs, "Uploading Files"): "The file upload size limit applies to each file in a
# request. The default limit is 10 MiB", higher only with a server's boost tier (the
# sandbox's guild is not boosted). At most 10 attachments to a message (the ``attachments``
# array of the OpenAPI description: maxItems 10).
UPLOAD_SIZE_MAX = 10 * 1024 * 1024
ATTACHMENTS_MAX = 10

# JSON error codes
REQUEST_ENTITY_TOO_LARGE = 40005
MAX_PINS = 30003
MAX_ROLES = 30005
MAX_CHANNELS = 30013
MAX_COMMANDS = 30032
MAX_THREAD_MEMBERS = 30033
MAX_DAILY_COMMAND_CREATES = 30034
MAX_SCHEDULED_EVENTS = 30038
MAX_ACTIVE_THREADS = 160006
EMPTY_MESSAGE = 50006
ONBOARDING_REQUIREMENTS_NOT_MET = 350000  # "Cannot enable onboarding, requirements are not met"
ONBOARDING_BELOW_REQUIREMENTS = 350001  # "Cannot update onboarding while below requirements"

THREAD_TYPES = frozenset({10, 11, 12})
GUILD_CHANNEL_TYPES = (0, 2, 4, 5, 13, 15, 16)
CHANNEL_TYPES = frozenset({0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16})
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el "
    "bg ru uk hi th zh-CN ja zh-TW ko".split()
)

# Application command option types
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
OPTION_TYPE_NAMES = {
    1: "subcommand",
    2: "subcommand group",
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}
SNOWFLAKE_TYPES = frozenset({USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT})


# --- errors tree --------------------------------------------------------------------


class ErrorTree:
    """Collects field errors into Discord's nested ``errors`` shape."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Iterable[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise invalid_form_body(self.tree)


Path = tuple[str | int, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _string(errs: ErrorTree, path: Path, value: Any) -> bool:
    if isinstance(value, str):
        return True
    errs.add(path, "BASE_TYPE_STRING", f'Could not interpret "{value}" as string.')
    return False


def _max_len(errs: ErrorTree, path: Path, value: Any, limit: int) -> None:
    if value is None:
        return
    if _string(errs, path, value) and len(value) > limit:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _bad_len(errs: ErrorTree, path: Path, value: Any, low: int, high: int) -> None:
    """A required string whose length must be in [low, high]."""
    if value is None:
        errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    if _string(errs, path, value) and not low <= len(value) <= high:
        errs.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _list(errs: ErrorTree, path: Path, value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, list):
        return value
    errs.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
    return None


def _dict(errs: ErrorTree, path: Path, value: Any) -> dict | None:
    if isinstance(value, dict):
        return value
    errs.add(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
    return None


def _list_max(errs: ErrorTree, path: Path, items: list, limit: int) -> None:
    if len(items) > limit:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _list_between(errs: ErrorTree, path: Path, items: list, low: int, high: int) -> None:
    if not low <= len(items) <= high:
        errs.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _int_range(errs: ErrorTree, path: Path, value: Any, low: int, high: int) -> None:
    if value is None:
        return
    if not _is_int(value):
        errs.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
    elif value < low:
        errs.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
    elif value > high:
        errs.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")


def _choices(errs: ErrorTree, path: Path, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed or isinstance(value, bool):
        shown = ", ".join(str(a) for a in allowed)
        errs.add(path, "BASE_TYPE_CHOICES", f"Value must be one of {{{shown}}}.")


def _count_error(code: int, message: str) -> DiscordError:
    return DiscordError(400, code, message)


# --- messages -----------------------------------------------------------------------


def check_message(
    payload: Mapping[str, Any], *, is_edit: bool = False, has_files: bool = False
) -> None:
    """Create/edit message, webhook execute and interaction-response message data.

    ``is_edit``: a PATCH, where every field is optional (no empty-message check).
    ``has_files``: the multipart request carried file parts (a message with only a
    file is not empty).
    """
    errs = ErrorTree()
    flags = payload.get("flags") or 0
    is_v2 = _is_int(flags) and bool(flags & IS_COMPONENTS_V2)

    content = payload.get("content")
    _max_len(errs, ("content",), content, MESSAGE_CONTENT_MAX)

    nonce = payload.get("nonce")
    if isinstance(nonce, str):
        _max_len(errs, ("nonce",), nonce, NONCE_MAX)

    embeds = _list(errs, ("embeds",), payload.get("embeds"))
    if embeds is not None:
        _check_embeds(errs, embeds)

    stickers = _list(errs, ("sticker_ids",), payload.get("sticker_ids"))
    if stickers is not None:
        _list_max(errs, ("sticker_ids",), stickers, STICKERS_MAX)

    mentions = payload.get("allowed_mentions")
    if mentions is not None and _dict(errs, ("allowed_mentions",), mentions) is not None:
        _check_allowed_mentions(errs, mentions)

    poll = payload.get("poll")
    if poll is not None and _dict(errs, ("poll",), poll) is not None:
        _check_poll(errs, poll)

    components = _list(errs, ("components",), payload.get("components"))
    if components is not None:
        if is_v2:
            _check_v2_components(errs, components)
        else:
            _check_action_rows(errs, components)

    if is_v2:
        for field in ("content", "embeds", "poll", "sticker_ids"):
            if payload.get(field):
                errs.add(
                    (field,),
                    "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                    "The 'content', 'embeds', 'stickers' and 'poll' fields cannot be used "
                    "when the IS_COMPONENTS_V2 flag is set.",
                )
    errs.raise_if_any()

    if not is_edit and not has_files and not message_has_content(payload):
        raise DiscordError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def message_has_content(payload: Mapping[str, Any]) -> bool:
    """Whether a message (payload or stored) shows anything: content, stickers, components,
    a poll, attachments, or an embed with text or media. An embed with neither (say, only a
    colour) shows nothing, so a message whose only embeds are such is empty (50006)."""
    if any(payload.get(f) for f in ("content", "sticker_ids", "components", "poll", "attachments")):
        return True
    embeds = payload.get("embeds")
    return isinstance(embeds, list) and any(
        isinstance(e, Mapping) and embed_has_content(e) for e in embeds
    )


def embed_has_content(embed: Mapping[str, Any]) -> bool:
    """Text (title, description, a field, footer text, author name) or media (image,
    thumbnail or video URL): what makes an embed show something. A URL, colour, timestamp
    or provider alone does not."""
    if embed.get("title") or embed.get("description") or embed.get("fields"):
        return True
    for key, inner in (("footer", "text"), ("author", "name")):
        part = embed.get(key)
        if isinstance(part, Mapping) and part.get(inner):
            return True
    for key in ("image", "thumbnail", "video"):
        part = embed.get(key)
        if isinstance(part, Mapping) and part.get("url"):
            return True
    return False


def check_uploads(sizes: Sequence[int], *, limit: int = UPLOAD_SIZE_MAX) -> None:
    """The files of one multipart request, by size in bytes: a file over the upload limit
    is refused 413 / 40005 "Request entity too large", as Discord does; more than 10 files
    are refused 400 / 50035 on ``attachments`` (the field Discord's description limits to
    10; which field Discord names for the file parts themselves is not documented)."""
    if any(size > limit for size in sizes):
        raise DiscordError(413, REQUEST_ENTITY_TOO_LARGE, "Request entity too large")
    if len(sizes) > ATTACHMENTS_MAX:
        errs = ErrorTree()
        errs.add(
            ("attachments",),
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {ATTACHMENTS_MAX} or fewer in length.",
        )
        errs.raise_if_any()


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters of one embed that count towards the 6000 total."""

    def length(value: Any) -> int:
        return len(value) if isinstance(value, str) else 0

    total = length(embed.get("title")) + length(embed.get("description"))
    for field in embed.get("fields") or ():
        if isinstance(field, dict):
            total += length(field.get("name")) + length(field.get("value"))
    if isinstance(embed.get("footer"), dict):
        total += length(embed["footer"].get("text"))
    if isinstance(embed.get("author"), dict):
        total += length(embed["author"].get("name"))
    return total


def _check_embeds(errs: ErrorTree, embeds: list) -> None:
    _list_max(errs, ("embeds",), embeds, EMBEDS_MAX)
    total = 0
    for i, embed in enumerate(embeds):
        base: Path = ("embeds", i)
        if _dict(errs, base, embed) is None:
            continue
        _max_len(errs, (*base, "title"), embed.get("title"), EMBED_TITLE_MAX)
        _max_len(errs, (*base, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX)
        fields = _list(errs, (*base, "fields"), embed.get("fields"))
        if fields is not None:
            _list_max(errs, (*base, "fields"), fields, EMBED_FIELDS_MAX)
            for j, field in enumerate(fields):
                fpath: Path = (*base, "fields", j)
                if _dict(errs, fpath, field) is None:
                    continue
                _bad_len(errs, (*fpath, "name"), field.get("name"), 1, EMBED_FIELD_NAME_MAX)
                _bad_len(errs, (*fpath, "value"), field.get("value"), 1, EMBED_FIELD_VALUE_MAX)
        footer = embed.get("footer")
        if footer is not None and _dict(errs, (*base, "footer"), footer) is not None:
            _bad_len(errs, (*base, "footer", "text"), footer.get("text"), 1, EMBED_FOOTER_MAX)
        author = embed.get("author")
        if author is not None and _dict(errs, (*base, "author"), author) is not None:
            _bad_len(errs, (*base, "author", "name"), author.get("name"), 1, EMBED_AUTHOR_MAX)
        total += embed_size(embed)
    if total > EMBED_TOTAL_MAX:
        errs.add(
            ("embeds",),
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
        )


def _check_allowed_mentions(errs: ErrorTree, mentions: Mapping[str, Any]) -> None:
    parse = _list(errs, ("allowed_mentions", "parse"), mentions.get("parse")) or []
    for i, kind in enumerate(parse):
        if kind not in ("roles", "users", "everyone"):
            _choices(errs, ("allowed_mentions", "parse", i), kind, ("roles", "users", "everyone"))
    for kind in ("users", "roles"):
        ids = _list(errs, ("allowed_mentions", kind), mentions.get(kind))
        if ids is None:
            continue
        _list_max(errs, ("allowed_mentions", kind), ids, ALLOWED_MENTIONS_IDS_MAX)
        if kind in parse and ids:
            errs.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
            )


def _check_poll(errs: ErrorTree, poll: Mapping[str, Any]) -> None:
    question = poll.get("question")
    if _dict(errs, ("poll", "question"), question) is not None:
        _bad_len(errs, ("poll", "question", "text"), question.get("text"), 1, POLL_QUESTION_MAX)
    answers = _list(errs, ("poll", "answers"), poll.get("answers"))
    if answers is None:
        errs.add(("poll", "answers"), "BASE_TYPE_REQUIRED", "This field is required")
    else:
        _list_between(errs, ("poll", "answers"), answers, 1, POLL_ANSWERS_MAX)
        for i, answer in enumerate(answers):
            if _dict(errs, ("poll", "answers", i), answer) is None:
                continue
            media = answer.get("poll_media")
            if _dict(errs, ("poll", "answers", i, "poll_media"), media) is not None:
                _max_len(
                    errs,
                    ("poll", "answers", i, "poll_media", "text"),
                    media.get("text"),
                    POLL_ANSWER_MAX,
                )
    _int_range(errs, ("poll", "duration"), poll.get("duration"), 1, POLL_DURATION_MAX_HOURS)


# --- components ---------------------------------------------------------------------


def _custom_id(errs: ErrorTree, path: Path, value: Any, seen: dict[str, Path]) -> None:
    _bad_len(errs, path, value, 1, CUSTOM_ID_MAX)
    if isinstance(value, str):
        if value in seen:
            errs.add(
                path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
            )
        else:
            seen[value] = path


def _type_of(errs: ErrorTree, path: Path, component: Any, allowed: Iterable[int]) -> int | None:
    allowed = tuple(allowed)
    if _dict(errs, path, component) is None:
        return None
    kind = component.get("type")
    if kind not in allowed or isinstance(kind, bool):
        shown = ",".join(str(a) for a in allowed)
        errs.add(
            (*path, "type") if kind is not None else path,
            "UNION_TYPE_CHOICES",
            f'Value of field "type" must be one of ({shown},).',
        )
        return None
    return kind


def _check_button(
    errs: ErrorTree, path: Path, button: Mapping[str, Any], seen: dict[str, Path]
) -> None:
    style = button.get("style")
    if style not in (1, 2, 3, 4, 5, 6) or isinstance(style, bool):
        _choices(errs, (*path, "style"), style, (1, 2, 3, 4, 5, 6))
        return
    _max_len(errs, (*path, "label"), button.get("label"), BUTTON_LABEL_MAX)
    if style == 5:
        if not button.get("url"):
            errs.add((*path, "url"), "BASE_TYPE_REQUIRED", "This field is required")
        if button.get("custom_id") is not None:
            errs.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                "Link buttons cannot have a custom_id",
            )
    elif style == 6:
        if not button.get("sku_id"):
            errs.add((*path, "sku_id"), "BASE_TYPE_REQUIRED", "This field is required")
    else:
        _custom_id(errs, (*path, "custom_id"), button.get("custom_id"), seen)
        if button.get("url") is not None:
            errs.add(
                (*path, "url"),
                "BUTTON_COMPONENT_URL_NOT_ALLOWED",
                "Only link buttons can have a url",
            )
    if style != 6 and not button.get("label") and not button.get("emoji"):
        errs.add(
            (*path, "label"),
            "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED",
            "A label or an emoji is required",
        )


def _check_select(
    errs: ErrorTree, path: Path, select: Mapping[str, Any], seen: dict[str, Path]
) -> None:
    _custom_id(errs, (*path, "custom_id"), select.get("custom_id"), seen)
    _max_len(errs, (*path, "placeholder"), select.get("placeholder"), SELECT_PLACEHOLDER_MAX)
    min_values = select.get("min_values")
    max_values = select.get("max_values")
    _int_range(errs, (*path, "min_values"), min_values, 0, SELECT_OPTIONS_MAX)
    _int_range(errs, (*path, "max_values"), max_values, 1, SELECT_OPTIONS_MAX)
    low = min_values if _is_int(min_values) else 1
    high = max_values if _is_int(max_values) else 1
    if low > high:
        errs.add(
            (*path, "min_values"),
            "SELECT_COMPONENT_MIN_VALUES_TOO_LARGE",
            "min_values must be less than or equal to max_values",
        )
    if select.get("type") == 3:
        options = _list(errs, (*path, "options"), select.get("options"))
        if options is None:
            errs.add((*path, "options"), "BASE_TYPE_REQUIRED", "This field is required")
            return
        _list_between(errs, (*path, "options"), options, 1, SELECT_OPTIONS_MAX)
        values: set[str] = set()
        for i, option in enumerate(options):
            opath: Path = (*path, "options", i)
            if _dict(errs, opath, option) is None:
                continue
            _bad_len(errs, (*opath, "label"), option.get("label"), 1, SELECT_OPTION_TEXT_MAX)
            _bad_len(errs, (*opath, "value"), option.get("value"), 1, SELECT_OPTION_TEXT_MAX)
            _max_len(
                errs, (*opath, "description"), option.get("description"), SELECT_OPTION_TEXT_MAX
            )
            value = option.get("value")
            if isinstance(value, str):
                if value in values:
                    errs.add(
                        (*opath, "value"),
                        "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                        "Select component option values must be unique",
                    )
                values.add(value)
        if isinstance(max_values, int) and options and max_values > len(options):
            errs.add(
                (*path, "max_values"),
                "SELECT_COMPONENT_MAX_VALUES_TOO_LARGE",
                f"int value should be less than or equal to {len(options)}.",
            )


def _check_action_row(
    errs: ErrorTree, path: Path, row: Mapping[str, Any], seen: dict[str, Path]
) -> None:
    children = _list(errs, (*path, "components"), row.get("components"))
    if children is None:
        errs.add((*path, "components"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    _list_between(errs, (*path, "components"), children, 1, BUTTONS_PER_ROW_MAX)
    kinds = []
    for i, child in enumerate(children):
        cpath: Path = (*path, "components", i)
        kind = _type_of(errs, cpath, child, (2, *sorted(SELECT_TYPES)))
        if kind is None:
            continue
        kinds.append(kind)
        if kind == 2:
            _check_button(errs, cpath, child, seen)
        else:
            _check_select(errs, cpath, child, seen)
    if any(k in SELECT_TYPES for k in kinds) and len(children) > 1:
        errs.add(
            (*path, "components"),
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )


def _check_action_rows(errs: ErrorTree, components: list) -> None:
    _list_max(errs, ("components",), components, ACTION_ROWS_MAX)
    seen: dict[str, Path] = {}
    for i, row in enumerate(components):
        path: Path = ("components", i)
        if _type_of(errs, path, row, (1,)) is not None:
            _check_action_row(errs, path, row, seen)


_V2_TOP_LEVEL = (1, 9, 10, 12, 13, 14, 17)
_V2_IN_CONTAINER = (1, 9, 10, 12, 13, 14)


def _check_v2_components(errs: ErrorTree, components: list) -> None:
    """Components V2 layouts (IS_COMPONENTS_V2): 40 components in all, 4000 text characters."""
    seen: dict[str, Path] = {}
    counter = {"components": 0, "text": 0}

    def walk(path: Path, component: Any, allowed: tuple[int, ...]) -> None:
        kind = _type_of(errs, path, component, allowed)
        if kind is None:
            return
        counter["components"] += 1
        if kind == 1:
            _check_action_row(errs, path, component, seen)
            children = component.get("components")
            counter["components"] += len(children) if isinstance(children, list) else 0
        elif kind == 9:
            texts = _list(errs, (*path, "components"), component.get("components")) or []
            _list_between(errs, (*path, "components"), texts, 1, 3)
            for i, text in enumerate(texts):
                walk((*path, "components", i), text, (10,))
            accessory = component.get("accessory")
            if accessory is None:
                errs.add((*path, "accessory"), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                akind = _type_of(errs, (*path, "accessory"), accessory, (2, 11))
                counter["components"] += 1 if akind else 0
                if akind == 2:
                    _check_button(errs, (*path, "accessory"), accessory, seen)
        elif kind == 10:
            content = component.get("content")
            if _string(errs, (*path, "content"), content):
                counter["text"] += len(content)
        elif kind == 12:
            items = _list(errs, (*path, "items"), component.get("items")) or []
            _list_between(errs, (*path, "items"), items, 1, 10)
        elif kind == 17:
            children = _list(errs, (*path, "components"), component.get("components")) or []
            for i, child in enumerate(children):
                walk((*path, "components", i), child, _V2_IN_CONTAINER)

    for i, component in enumerate(components):
        walk(("components", i), component, _V2_TOP_LEVEL)
    if counter["components"] > V2_COMPONENTS_TOTAL_MAX:
        errs.add(
            ("components",),
            "MAX_COMPONENTS_EXCEEDED",
            f"Must be {V2_COMPONENTS_TOTAL_MAX} or fewer in total (nested components included).",
        )
    if counter["text"] > V2_TEXT_TOTAL_MAX:
        errs.add(
            ("components",),
            "MAX_TEXT_LENGTH_EXCEEDED",
            f"Text display content must be {V2_TEXT_TOTAL_MAX} or fewer characters in total.",
        )


# --- modals -------------------------------------------------------------------------


def _check_text_input(
    errs: ErrorTree,
    path: Path,
    text_input: Mapping[str, Any],
    seen: dict[str, Path],
    *,
    in_label: bool,
) -> None:
    _custom_id(errs, (*path, "custom_id"), text_input.get("custom_id"), seen)
    style = text_input.get("style")
    if style not in (1, 2) or isinstance(style, bool):
        _choices(errs, (*path, "style"), style, (1, 2))
    if in_label:
        if text_input.get("label") is not None:
            errs.add(
                (*path, "label"),
                "TEXT_INPUT_LABEL_NOT_ALLOWED",
                "A text input inside a label component cannot have its own label",
            )
    else:
        _bad_len(errs, (*path, "label"), text_input.get("label"), 1, MODAL_LABEL_MAX)
    min_length = text_input.get("min_length")
    max_length = text_input.get("max_length")
    _int_range(errs, (*path, "min_length"), min_length, 0, TEXT_INPUT_MAX_LENGTH)
    _int_range(errs, (*path, "max_length"), max_length, 1, TEXT_INPUT_MAX_LENGTH)
    if _is_int(min_length) and _is_int(max_length) and min_length > max_length:
        errs.add(
            (*path, "min_length"),
            "TEXT_INPUT_MIN_LENGTH_TOO_LARGE",
            "min_length must be less than or equal to max_length",
        )
    _max_len(errs, (*path, "value"), text_input.get("value"), TEXT_INPUT_MAX_LENGTH)
    _max_len(
        errs, (*path, "placeholder"), text_input.get("placeholder"), TEXT_INPUT_PLACEHOLDER_MAX
    )


def check_modal(payload: Mapping[str, Any]) -> None:
    """The data of a MODAL interaction response (type 9)."""
    errs = ErrorTree()
    seen: dict[str, Path] = {}
    _bad_len(errs, ("title",), payload.get("title"), 1, MODAL_TITLE_MAX)
    _bad_len(errs, ("custom_id",), payload.get("custom_id"), 1, CUSTOM_ID_MAX)
    components = _list(errs, ("components",), payload.get("components"))
    if components is None:
        errs.add(("components",), "BASE_TYPE_REQUIRED", "This field is required")
        errs.raise_if_any()
        return
    _list_between(errs, ("components",), components, 1, MODAL_COMPONENTS_MAX)
    for i, component in enumerate(components):
        path: Path = ("components", i)
        kind = _type_of(errs, path, component, (1, 10, 18))
        if kind == 1:
            children = _list(errs, (*path, "components"), component.get("components")) or []
            if len(children) != 1:
                errs.add(
                    (*path, "components"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 1 in length.",
                )
            for j, child in enumerate(children):
                cpath: Path = (*path, "components", j)
                if _type_of(errs, cpath, child, (4,)) is not None:
                    _check_text_input(errs, cpath, child, seen, in_label=False)
        elif kind == 10:
            _string(errs, (*path, "content"), component.get("content"))
        elif kind == 18:
            _bad_len(errs, (*path, "label"), component.get("label"), 1, MODAL_LABEL_MAX)
            _max_len(
                errs, (*path, "description"), component.get("description"), LABEL_DESCRIPTION_MAX
            )
            inner = component.get("component")
            ipath: Path = (*path, "component")
            if inner is None:
                errs.add(ipath, "BASE_TYPE_REQUIRED", "This field is required")
                continue
            inner_kind = _type_of(errs, ipath, inner, (3, 4, 5, 6, 7, 8, 19, 21, 22, 23))
            if inner_kind == 4:
                _check_text_input(errs, ipath, inner, seen, in_label=True)
            elif inner_kind in SELECT_TYPES:
                _check_select(errs, ipath, inner, seen)
            elif inner_kind is not None:
                _custom_id(errs, (*ipath, "custom_id"), inner.get("custom_id"), seen)
    errs.raise_if_any()


# --- application commands -----------------------------------------------------------


def _in_script_deva_or_thai(char: str) -> bool:
    code = ord(char)
    return 0x0900 <= code <= 0x097F or 0xA8E0 <= code <= 0xA8FF or 0x0E00 <= code <= 0x0E7F


def is_valid_chat_input_name(name: Any) -> bool:
    r"""Discord's ``^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``, lowercase where a lowercase exists."""
    if not isinstance(name, str) or not 1 <= len(name) <= COMMAND_NAME_MAX:
        return False
    for char in name:
        category = unicodedata.category(char)
        allowed = (
            char in "-_"
            or category.startswith("L")
            or category.startswith("N")
            or _in_script_deva_or_thai(char)
        )
        if not allowed or char.lower() != char:
            return False
    return True


def _check_localized(
    errs: ErrorTree,
    path: Path,
    field: str,
    node: Mapping[str, Any],
    check: Callable[[ErrorTree, Path, Any], None],
) -> None:
    check(errs, (*path, field), node.get(field))
    key = f"{field}_localizations"
    localizations = node.get(key)
    if localizations is None:
        return
    if _dict(errs, (*path, key), localizations) is None:
        return
    for locale, value in localizations.items():
        if locale not in LOCALES:
            errs.add(
                (*path, key), "ENUM_TYPE_COERCE", f'Value "{locale}" is not a valid enum value.'
            )
            continue
        check(errs, (*path, key, locale), value)


def _chat_name(errs: ErrorTree, path: Path, value: Any) -> None:
    if value is None:
        errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
    elif not isinstance(value, str) or not 1 <= len(value) <= COMMAND_NAME_MAX:
        _bad_len(errs, path, value, 1, COMMAND_NAME_MAX)
    elif not is_valid_chat_input_name(value):
        errs.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _context_menu_name(errs: ErrorTree, path: Path, value: Any) -> None:
    _bad_len(errs, path, value, 1, COMMAND_NAME_MAX)


def _description(errs: ErrorTree, path: Path, value: Any) -> None:
    _bad_len(errs, path, value, 1, COMMAND_DESCRIPTION_MAX)


def _choice_name(errs: ErrorTree, path: Path, value: Any) -> None:
    _bad_len(errs, path, value, 1, COMMAND_CHOICE_NAME_MAX)


def _localized_length(node: Mapping[str, Any], field: str) -> int:
    value = node.get(field)
    best = len(value) if isinstance(value, str) else len(str(value)) if value is not None else 0
    localizations = node.get(f"{field}_localizations")
    if isinstance(localizations, dict):
        for text in localizations.values():
            if isinstance(text, str):
                best = max(best, len(text))
    return best


def command_size(command: Mapping[str, Any]) -> int:
    """Characters counted towards the 8000 limit (see the module docstring)."""

    def option_size(option: Mapping[str, Any]) -> int:
        total = _localized_length(option, "name") + _localized_length(option, "description")
        for choice in option.get("choices") or ():
            if isinstance(choice, dict):
                total += _localized_length(choice, "name") + _localized_length(choice, "value")
        for child in option.get("options") or ():
            if isinstance(child, dict):
                total += option_size(child)
        return total

    return option_size(command)


def _check_option(errs: ErrorTree, path: Path, option: Mapping[str, Any]) -> None:
    kind = option.get("type")
    if kind not in OPTION_TYPE_NAMES or isinstance(kind, bool):
        _choices(errs, (*path, "type"), kind, tuple(OPTION_TYPE_NAMES))
        return
    _check_localized(errs, path, "name", option, _chat_name)
    _check_localized(errs, path, "description", option, _description)

    choices = _list(errs, (*path, "choices"), option.get("choices"))
    if choices:
        if kind not in (STRING, INTEGER, NUMBER):
            errs.add(
                (*path, "choices"),
                "APPLICATION_COMMAND_OPTION_CHOICES_NOT_ALLOWED",
                "Only string, integer and number options can have choices",
            )
        _list_max(errs, (*path, "choices"), choices, COMMAND_CHOICES_MAX)
        if option.get("autocomplete"):
            errs.add(
                (*path, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                "Autocomplete and choices are mutually exclusive",
            )
        for i, choice in enumerate(choices):
            cpath: Path = (*path, "choices", i)
            if _dict(errs, cpath, choice) is None:
                continue
            _check_localized(errs, cpath, "name", choice, _choice_name)
            value = choice.get("value")
            if kind == STRING:
                _bad_len(errs, (*cpath, "value"), value, 1, COMMAND_CHOICE_STRING_VALUE_MAX)
            elif kind == INTEGER:
                _int_range(errs, (*cpath, "value"), value, -NUMBER_ABS_MAX, NUMBER_ABS_MAX)
            elif kind == NUMBER and not _is_number(value):
                errs.add(
                    (*cpath, "value"),
                    "NUMBER_TYPE_COERCE",
                    f'Value "{value}" is not a valid number.',
                )

    for bound in ("min_value", "max_value"):
        value = option.get(bound)
        if value is None:
            continue
        if kind not in (INTEGER, NUMBER):
            errs.add(
                (*path, bound),
                "APPLICATION_COMMAND_OPTION_BOUND_NOT_ALLOWED",
                f"{bound} is only allowed for integer and number options",
            )
        elif kind == INTEGER:
            _int_range(errs, (*path, bound), value, -NUMBER_ABS_MAX, NUMBER_ABS_MAX)
        elif not _is_number(value):
            errs.add(
                (*path, bound), "NUMBER_TYPE_COERCE", f'Value "{value}" is not a valid number.'
            )
    low, high = option.get("min_value"), option.get("max_value")
    if _is_number(low) and _is_number(high) and low > high:
        errs.add(
            (*path, "min_value"),
            "APPLICATION_COMMAND_OPTION_MIN_GREATER_THAN_MAX",
            "min_value must be less than or equal to max_value",
        )

    for bound, lowest in (("min_length", 0), ("max_length", 1)):
        value = option.get(bound)
        if value is None:
            continue
        if kind != STRING:
            errs.add(
                (*path, bound),
                "APPLICATION_COMMAND_OPTION_BOUND_NOT_ALLOWED",
                f"{bound} is only allowed for string options",
            )
        else:
            _int_range(errs, (*path, bound), value, lowest, COMMAND_STRING_LENGTH_MAX)
    low, high = option.get("min_length"), option.get("max_length")
    if _is_int(low) and _is_int(high) and low > high:
        errs.add(
            (*path, "min_length"),
            "APPLICATION_COMMAND_OPTION_MIN_GREATER_THAN_MAX",
            "min_length must be less than or equal to max_length",
        )

    channel_types = _list(errs, (*path, "channel_types"), option.get("channel_types"))
    if channel_types is not None:
        if kind != CHANNEL:
            errs.add(
                (*path, "channel_types"),
                "APPLICATION_COMMAND_OPTION_CHANNEL_TYPES_NOT_ALLOWED",
                "channel_types is only allowed for channel options",
            )
        for i, channel_type in enumerate(channel_types):
            if channel_type not in CHANNEL_TYPES:
                _choices(errs, (*path, "channel_types", i), channel_type, sorted(CHANNEL_TYPES))

    if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
        if option.get("required"):
            errs.add(
                (*path, "required"),
                "APPLICATION_COMMAND_OPTION_REQUIRED_NOT_ALLOWED",
                "Sub-commands and sub-command groups cannot be required",
            )
        level = "group" if kind == SUB_COMMAND_GROUP else "subcommand"
        _check_options(errs, path, option.get("options"), level)
    elif option.get("options"):
        errs.add(
            (*path, "options"),
            "APPLICATION_COMMAND_OPTION_OPTIONS_NOT_ALLOWED",
            "Only sub-commands and sub-command groups can have options",
        )


def _check_options(errs: ErrorTree, path: Path, raw: Any, level: str) -> None:
    """``level``: "command" (top), "group" (inside a subcommand group) or "subcommand"."""
    options = _list(errs, (*path, "options"), raw)
    if not options:
        return
    opath: Path = (*path, "options")
    _list_max(errs, opath, options, COMMAND_OPTIONS_MAX)
    names: set[str] = set()
    seen_optional = False
    kinds: list[int] = []
    for i, option in enumerate(options):
        ipath: Path = (*opath, i)
        if _dict(errs, ipath, option) is None:
            continue
        kind = option.get("type")
        kinds.append(kind)
        _check_option(errs, ipath, option)
        name = option.get("name")
        if isinstance(name, str):
            if name in names:
                errs.add(
                    (*ipath, "name"),
                    "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                    "Option names must be unique",
                )
            names.add(name)
        if kind not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if option.get("required") and seen_optional:
                errs.add(
                    opath,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
            if not option.get("required"):
                seen_optional = True

    nested = [k for k in kinds if k in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    if level == "group" and any(k != SUB_COMMAND for k in kinds):
        errs.add(
            opath,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command groups can only contain sub-commands",
        )
    elif level == "subcommand" and nested:
        errs.add(
            opath,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-commands cannot contain sub-commands or sub-command groups",
        )
    elif level == "command" and nested and len(nested) != len(kinds):
        errs.add(
            opath,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )


def _command_errors(errs: ErrorTree, path: Path, command: Any) -> None:
    if _dict(errs, path, command) is None:
        return
    kind = command.get("type", 1)
    if kind not in (1, 2, 3, 4) or isinstance(kind, bool):
        _choices(errs, (*path, "type"), kind, (1, 2, 3, 4))
        return
    if kind == 1:
        _check_localized(errs, path, "name", command, _chat_name)
        _check_localized(errs, path, "description", command, _description)
        _check_options(errs, path, command.get("options"), "command")
    else:
        _check_localized(errs, path, "name", command, _context_menu_name)
        if command.get("description") not in (None, ""):
            errs.add(
                (*path, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if command.get("options"):
            errs.add(
                (*path, "options"),
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            )
    if command_size(command) > COMMAND_SIZE_MAX:
        errs.add(
            path,
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({COMMAND_SIZE_MAX})",
        )


def check_command(payload: Mapping[str, Any]) -> None:
    """POST/PATCH of one application command."""
    errs = ErrorTree()
    _command_errors(errs, (), payload)
    errs.raise_if_any()


def check_commands_bulk(commands: list[Mapping[str, Any]]) -> None:
    """PUT (bulk overwrite) of a whole command list, global or per guild."""
    errs = ErrorTree()
    if _list(errs, (), commands) is None:
        errs.raise_if_any()
    names: set[tuple[int, str]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    for i, command in enumerate(commands):
        _command_errors(errs, (i,), command)
        if not isinstance(command, dict):
            continue
        kind = command.get("type", 1)
        if kind in counts:
            counts[kind] += 1
        name = command.get("name")
        if isinstance(name, str):
            if (kind, name) in names:
                errs.add(
                    (i, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            names.add((kind, name))
    errs.raise_if_any()
    if counts[1] > CHAT_INPUT_COMMANDS_MAX:
        raise _count_error(
            MAX_COMMANDS,
            f"Maximum number of application commands reached ({CHAT_INPUT_COMMANDS_MAX})",
        )
    if counts[2] > CONTEXT_MENU_COMMANDS_MAX or counts[3] > CONTEXT_MENU_COMMANDS_MAX:
        raise _count_error(
            MAX_COMMANDS,
            f"Maximum number of application commands reached ({CONTEXT_MENU_COMMANDS_MAX})",
        )


def check_command_creates_today(created_today: int, creating: int = 1) -> None:
    """Creating ``creating`` commands (a POST of a new name, or the new names of a bulk
    overwrite) when ``created_today`` were already created in the last day."""
    if creating > 0 and created_today + creating > COMMAND_CREATES_PER_DAY:
        raise _count_error(
            MAX_DAILY_COMMAND_CREATES,
            f"Max number of daily application command creates has been reached ({COMMAND_CREATES_PER_DAY})",
        )


# --- autocomplete results -----------------------------------------------------------


def focused_option_type(data: Mapping[str, Any]) -> int | None:
    """The type of the option being typed in, from an autocomplete interaction's ``data``
    (``focused: true``, at any depth of subcommand groups and subcommands)."""
    stack = list(data.get("options") or [])
    while stack:
        option = stack.pop()
        if not isinstance(option, Mapping):
            continue
        if option.get("focused"):
            kind = option.get("type")
            return kind if _is_int(kind) else None
        stack.extend(option.get("options") or [])
    return None


def check_autocomplete_choices(choices: Any, option_type: int | None) -> None:
    """The ``data.choices`` of an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: at most 25, each
    a name of 1 to 100 characters and a value of the focused option's type (a string of
    at most 100 characters, an integer, or a number), as for a command's own choices."""
    errs = ErrorTree()
    base: Path = ("data", "choices")
    items = _list(errs, base, choices)
    if items is None:
        errs.raise_if_any()
        return
    _list_max(errs, base, items, COMMAND_CHOICES_MAX)
    for i, choice in enumerate(items):
        path: Path = (*base, i)
        if _dict(errs, path, choice) is None:
            continue
        _check_localized(errs, path, "name", choice, _choice_name)
        value = choice.get("value")
        vpath: Path = (*path, "value")
        if value is None:
            errs.add(vpath, "BASE_TYPE_REQUIRED", "This field is required")
        elif option_type == STRING:
            _max_len(errs, vpath, value, COMMAND_CHOICE_STRING_VALUE_MAX)
        elif option_type == INTEGER:
            _int_range(errs, vpath, value, -NUMBER_ABS_MAX, NUMBER_ABS_MAX)
        elif option_type == NUMBER and not _is_number(value):
            errs.add(vpath, "NUMBER_TYPE_COERCE", f'Value "{value}" is not a valid number.')
    errs.raise_if_any()


# --- guild resources ----------------------------------------------------------------


def _check_channel_fields(
    errs: ErrorTree, payload: Mapping[str, Any], kind: Any, *, creating: bool
) -> None:
    if creating or "name" in payload:
        _bad_len(errs, ("name",), payload.get("name"), 1, CHANNEL_NAME_MAX)
    topic_max = FORUM_TOPIC_MAX if kind in (15, 16) else CHANNEL_TOPIC_MAX
    _max_len(errs, ("topic",), payload.get("topic"), topic_max)
    _int_range(errs, ("rate_limit_per_user",), payload.get("rate_limit_per_user"), 0, SLOWMODE_MAX)
    duration = payload.get("default_auto_archive_duration")
    if duration is not None:
        _choices(errs, ("default_auto_archive_duration",), duration, AUTO_ARCHIVE_DURATIONS)
    tags = _list(errs, ("available_tags",), payload.get("available_tags"))
    if tags is not None:
        _list_max(errs, ("available_tags",), tags, FORUM_TAGS_MAX)
        for i, tag in enumerate(tags):
            if tag is not None and _dict(errs, ("available_tags", i), tag) is not None:
                path: Path = ("available_tags", i, "name")
                _max_len(errs, path, tag.get("name"), FORUM_TAG_NAME_MAX)


def _check_parent(
    errs: ErrorTree,
    existing: list[Mapping[str, Any]],
    parent_id: Any,
    kind: Any,
    moving_id: str | None,
) -> None:
    if parent_id is None:
        return
    if kind == 4:
        errs.add(("parent_id",), "CHANNEL_PARENT_INVALID_TYPE", "Categories cannot have a parent")
        return
    parent = next((c for c in existing if str(c.get("id")) == str(parent_id)), None)
    if parent is None or parent.get("type") != 4:
        errs.add(("parent_id",), "CHANNEL_PARENT_INVALID_TYPE", "Parent must be a category channel")
        return
    children = sum(
        1
        for c in existing
        if str(c.get("parent_id")) == str(parent_id)
        and c.get("type") not in THREAD_TYPES
        and str(c.get("id")) != str(moving_id)
    )
    if children >= CATEGORY_CHANNELS_MAX:
        errs.add(
            ("parent_id",),
            "CHANNEL_PARENT_MAX_CHANNELS",
            f"Maximum number of channels in category reached ({CATEGORY_CHANNELS_MAX})",
        )


# Text, announcement and forum channels: Discord stores their names normalised.
NORMALISED_NAME_TYPES = frozenset({0, 5, 15})
_NAME_DROPPED = frozenset(string.punctuation) - {"-", "_"}


def normalise_channel_name(name: Any, kind: Any) -> Any:
    """The name Discord stores for a text (0), announcement (5) or forum (15) channel;
    other types keep theirs. Discord documents none of this (the API docs only say "1-100
    character channel name"); what is modelled is what bots have observed: lower case
    (its client refuses capitals and spaces in these names: discord-api-docs #1646), runs
    of whitespace become one "-" (JDA #1124), ASCII punctuation other than "-" and "_" is
    dropped ("Joey's Cool Channel" becomes "joeys-cool-channel": nextcord #957; "." "," and
    "'" vanish: PokeNavBot issue-tracker #356), repeated dashes collapse into one
    (yesbot-ts #971) and dashes at either end go (dndvault-bot #385). Other characters
    (letters of any script, digits, emoji) stay. A name left empty is refused 50035 (the
    sandbox's choice: what Discord answers is not documented)."""
    if kind not in NORMALISED_NAME_TYPES or not isinstance(name, str):
        return name
    text = re.sub(r"\s+", "-", name.strip().lower())
    text = "".join(ch for ch in text if ch not in _NAME_DROPPED)
    text = re.sub(r"-{2,}", "-", text).strip("-")
    if not text:
        errs = ErrorTree()
        errs.add(
            ("name",),
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {CHANNEL_NAME_MAX} in length.",
        )
        errs.raise_if_any()
    return text


def check_channel_create(
    existing_channels: list[Mapping[str, Any]], payload: Mapping[str, Any]
) -> None:
    """POST /guilds/{id}/channels. ``existing_channels``: the guild's channels (threads are ignored)."""
    guild_channels = [c for c in existing_channels if c.get("type") not in THREAD_TYPES]
    if len(guild_channels) >= GUILD_CHANNELS_MAX:
        raise _count_error(
            MAX_CHANNELS, f"Maximum number of guild channels reached ({GUILD_CHANNELS_MAX})"
        )
    errs = ErrorTree()
    kind = payload.get("type", 0)
    if kind is not None and kind not in GUILD_CHANNEL_TYPES:
        _choices(errs, ("type",), kind, GUILD_CHANNEL_TYPES)
    _check_channel_fields(errs, payload, kind, creating=True)
    _check_parent(errs, guild_channels, payload.get("parent_id"), kind, None)
    errs.raise_if_any()


def check_channel_update(
    existing_channels: list[Mapping[str, Any]],
    channel: Mapping[str, Any],
    payload: Mapping[str, Any],
) -> None:
    """PATCH /channels/{id} of a guild channel: field limits and the 50-per-category limit on moves."""
    errs = ErrorTree()
    kind = channel.get("type", 0)
    if kind in THREAD_TYPES:
        if "name" in payload:
            _bad_len(errs, ("name",), payload.get("name"), 1, CHANNEL_NAME_MAX)
        duration = payload.get("auto_archive_duration")
        if duration is not None:
            _choices(errs, ("auto_archive_duration",), duration, AUTO_ARCHIVE_DURATIONS)
        tags = _list(errs, ("applied_tags",), payload.get("applied_tags"))
        if tags is not None:
            _list_max(errs, ("applied_tags",), tags, FORUM_APPLIED_TAGS_MAX)
    else:
        _check_channel_fields(errs, payload, kind, creating=False)
        new_parent = payload.get("parent_id")
        if new_parent is not None and str(new_parent) != str(channel.get("parent_id")):
            guild_channels = [c for c in existing_channels if c.get("type") not in THREAD_TYPES]
            _check_parent(errs, guild_channels, new_parent, kind, str(channel.get("id")))
    errs.raise_if_any()


def check_role_create(
    existing_roles: list[Mapping[str, Any]], payload: Mapping[str, Any] | None = None
) -> None:
    """POST /guilds/{id}/roles. ``existing_roles`` includes @everyone, as in the guild's role list."""
    if len(existing_roles) >= GUILD_ROLES_MAX:
        raise _count_error(MAX_ROLES, f"Maximum number of guild roles reached ({GUILD_ROLES_MAX})")
    if payload:
        errs = ErrorTree()
        _max_len(errs, ("name",), payload.get("name"), ROLE_NAME_MAX)
        errs.raise_if_any()


def check_thread_create(active_thread_count: int, payload: Mapping[str, Any] | None = None) -> None:
    """Starting a thread or forum post while ``active_thread_count`` threads are active in the guild."""
    if payload:
        errs = ErrorTree()
        _bad_len(errs, ("name",), payload.get("name"), 1, CHANNEL_NAME_MAX)
        duration = payload.get("auto_archive_duration")
        if duration is not None:
            _choices(errs, ("auto_archive_duration",), duration, AUTO_ARCHIVE_DURATIONS)
        _int_range(
            errs, ("rate_limit_per_user",), payload.get("rate_limit_per_user"), 0, SLOWMODE_MAX
        )
        tags = _list(errs, ("applied_tags",), payload.get("applied_tags"))
        if tags is not None:
            _list_max(errs, ("applied_tags",), tags, FORUM_APPLIED_TAGS_MAX)
        errs.raise_if_any()
    if active_thread_count >= ACTIVE_THREADS_MAX:
        raise _count_error(MAX_ACTIVE_THREADS, "Maximum number of active threads reached")


def check_unarchive(active_thread_count: int) -> None:
    """An archived thread comes back (a message in it, or archived=false) only while the
    server holds fewer than its limit of active threads; archived ones do not count."""
    if active_thread_count >= ACTIVE_THREADS_MAX:
        raise _count_error(MAX_ACTIVE_THREADS, "Maximum number of active threads reached")


def check_pin(pinned_count: int) -> None:
    if pinned_count >= PINS_MAX:
        raise _count_error(MAX_PINS, f"Maximum number of pins reached ({PINS_MAX})")


def check_scheduled_event_create(active_count: int) -> None:
    """``active_count``: scheduled events of the guild that have not ended yet."""
    if active_count >= SCHEDULED_EVENTS_MAX:
        raise _count_error(
            MAX_SCHEDULED_EVENTS,
            f"Maximum number of uncompleted guild scheduled events reached ({SCHEDULED_EVENTS_MAX})",
        )


def check_thread_member_add(member_count: int) -> None:
    if member_count >= THREAD_MEMBERS_MAX:
        raise _count_error(
            MAX_THREAD_MEMBERS,
            f"Max number of thread participants has been reached ({THREAD_MEMBERS_MAX})",
        )


# --- guild onboarding ---------------------------------------------------------------


def check_onboarding(payload: Mapping[str, Any]) -> None:
    """PUT /guilds/{id}/onboarding: the fields' counts and lengths (every field is optional;
    ``prompts`` replaces every prompt, and a prompt needs a title and 1 to 50 options)."""
    errs = ErrorTree()
    prompts = _list(errs, ("prompts",), payload.get("prompts"))
    if prompts is not None:
        _list_max(errs, ("prompts",), prompts, ONBOARDING_PROMPTS_MAX)
        for i, raw in enumerate(prompts):
            prompt = _dict(errs, ("prompts", i), raw)
            if prompt is None:
                continue
            _bad_len(
                errs, ("prompts", i, "title"), prompt.get("title"), 1, ONBOARDING_PROMPT_TITLE_MAX
            )
            kind = prompt.get("type")
            if kind is not None:
                _choices(errs, ("prompts", i, "type"), kind, ONBOARDING_PROMPT_TYPES)
            options = _list(errs, ("prompts", i, "options"), prompt.get("options"))
            if options is None:
                errs.add(("prompts", i, "options"), "BASE_TYPE_REQUIRED", "This field is required")
                continue
            _list_between(errs, ("prompts", i, "options"), options, 1, ONBOARDING_OPTIONS_MAX)
            for j, raw_option in enumerate(options):
                path: Path = ("prompts", i, "options", j)
                option = _dict(errs, path, raw_option)
                if option is None:
                    continue
                _bad_len(
                    errs, (*path, "title"), option.get("title"), 1, ONBOARDING_OPTION_TITLE_MAX
                )
                _max_len(
                    errs,
                    (*path, "description"),
                    option.get("description"),
                    ONBOARDING_OPTION_DESCRIPTION_MAX,
                )
                _max_len(
                    errs,
                    (*path, "emoji_name"),
                    option.get("emoji_name"),
                    ONBOARDING_OPTION_EMOJI_NAME_MAX,
                )
                for key in ("role_ids", "channel_ids"):
                    ids = _list(errs, (*path, key), option.get(key))
                    if ids is not None:
                        _list_max(errs, (*path, key), ids, ONBOARDING_OPTION_IDS_MAX)
    defaults = _list(errs, ("default_channel_ids",), payload.get("default_channel_ids"))
    if defaults is not None:
        _list_max(errs, ("default_channel_ids",), defaults, ONBOARDING_DEFAULT_CHANNELS_MAX)
    mode = payload.get("mode")
    if mode is not None:
        _choices(errs, ("mode",), mode, ONBOARDING_MODES)
    errs.raise_if_any()


def onboarding_requirements_met(
    channel_ids: Iterable[str], everyone_can_send: Callable[[str], bool]
) -> bool:
    """Discord's requirements for an enabled onboarding: at least 7 channels, at least 5 of
    which let @everyone send messages. ``channel_ids``: the channels counted (the default
    channels; in ONBOARDING_ADVANCED mode also those the prompts' options give)."""
    counted = list(dict.fromkeys(str(c) for c in channel_ids))
    sendable = sum(1 for c in counted if everyone_can_send(c))
    return (
        len(counted) >= ONBOARDING_DEFAULT_CHANNELS_MIN
        and sendable >= ONBOARDING_SENDABLE_CHANNELS_MIN
    )


def check_onboarding_requirements(*, met: bool, was_enabled: bool) -> None:
    """Refuse an enabled onboarding below the requirements, with Discord's documented codes:
    350000 when it would become enabled, 350001 when it already was."""
    if met:
        return
    if was_enabled:
        raise DiscordError(
            400, ONBOARDING_BELOW_REQUIREMENTS, "Cannot update onboarding while below requirements"
        )
    raise DiscordError(
        400, ONBOARDING_REQUIREMENTS_NOT_MET, "Cannot enable onboarding, requirements are not met"
    )


# --- slash command invocation -------------------------------------------------------


def _find_child(
    options: Iterable[Mapping[str, Any]], name: str, kinds: Iterable[int]
) -> Mapping | None:
    kinds = tuple(kinds)
    for option in options:
        if option.get("name") == name and option.get("type") in kinds:
            return option
    return None


def _snowflake(value: Any, label: str) -> str:
    if _is_int(value) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise ValueError(f"{label} must be a snowflake id (digits), got {value!r}")


def _coerce_value(option: Mapping[str, Any], value: Any, command_name: str) -> Any:
    kind = option["type"]
    name = option["name"]
    label = f"/{command_name} option {name!r} ({OPTION_TYPE_NAMES.get(kind, kind)})"
    if kind == STRING:
        if not isinstance(value, str):
            raise ValueError(f"{label} expects a string, got {value!r}")
        low, high = option.get("min_length"), option.get("max_length")
        if low is not None and len(value) < low:
            raise ValueError(f"{label} must be at least {low} characters, got {len(value)}")
        if high is not None and len(value) > high:
            raise ValueError(f"{label} must be at most {high} characters, got {len(value)}")
    elif kind == INTEGER:
        if not _is_int(value):
            raise ValueError(f"{label} expects an integer, got {value!r}")
        if abs(value) > NUMBER_ABS_MAX:
            raise ValueError(f"{label} is out of Discord's integer range")
    elif kind == NUMBER:
        if not _is_number(value):
            raise ValueError(f"{label} expects a number, got {value!r}")
        if abs(value) > NUMBER_ABS_MAX:
            raise ValueError(f"{label} is out of Discord's number range")
    elif kind == BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{label} expects true or false, got {value!r}")
    elif kind in SNOWFLAKE_TYPES:
        value = _snowflake(value, label)
    else:
        raise ValueError(f"{label} cannot take a value")
    if kind in (INTEGER, NUMBER):
        low, high = option.get("min_value"), option.get("max_value")
        if low is not None and value < low:
            raise ValueError(f"{label} must be at least {low}, got {value}")
        if high is not None and value > high:
            raise ValueError(f"{label} must be at most {high}, got {value}")
    choices = option.get("choices")
    if choices:
        allowed = [c.get("value") for c in choices]
        if value not in allowed or isinstance(value, bool):
            shown = ", ".join(repr(a) for a in allowed)
            raise ValueError(f"{label} must be one of the choices [{shown}], got {value!r}")
    return value


def validate_invocation(
    command: Mapping[str, Any],
    path: list[str],
    options: Mapping[str, Any],
    *,
    focused: str | None = None,
    channel_type_of: Callable[[str], int | None] | None = None,
) -> list[dict[str, Any]]:
    """Check a simulated user's invocation of a registered command; return ``data.options``.

    ``command``: the command JSON as the bot registered it. ``path``: the subcommand
    group and/or subcommand names (``[]``, ``["sub"]`` or ``["group", "sub"]``).
    ``options``: option name -> value. Values are typed like Discord's JSON
    (int for integer, int/float for number, bool, str); user, channel, role,
    mentionable and attachment values are snowflakes (int or digit string) and are
    returned as strings.

    ``focused``: build an APPLICATION_COMMAND_AUTOCOMPLETE payload instead: that
    option must have ``autocomplete`` and is sent as the partial string typed so
    far with ``"focused": true``; required options may be missing.
    ``channel_type_of``: resolves a channel id to its type, to enforce an option's
    ``channel_types``.
    """
    command_name = str(command.get("name"))
    if command.get("type", 1) != 1:
        if path or options:
            raise ValueError(
                f"{command_name!r} is a context menu command: it takes no subcommand or options"
            )
        return []

    declared = list(command.get("options") or ())
    nested = [o for o in declared if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
    chain: list[Mapping[str, Any]] = []
    full_name = command_name
    if nested:
        if not path:
            names = ", ".join(o["name"] for o in nested)
            raise ValueError(f"/{command_name} needs a subcommand: one of {names}")
        first = _find_child(nested, path[0], (SUB_COMMAND, SUB_COMMAND_GROUP))
        if first is None:
            names = ", ".join(o["name"] for o in nested)
            raise ValueError(f"/{command_name} has no subcommand {path[0]!r} (known: {names})")
        chain.append(first)
        full_name += f" {first['name']}"
        if first["type"] == SUB_COMMAND_GROUP:
            subs = list(first.get("options") or ())
            if len(path) < 2:
                names = ", ".join(o["name"] for o in subs)
                raise ValueError(f"/{full_name} is a group: pick a subcommand ({names})")
            sub = _find_child(subs, path[1], (SUB_COMMAND,))
            if sub is None:
                names = ", ".join(o["name"] for o in subs)
                raise ValueError(f"/{full_name} has no subcommand {path[1]!r} (known: {names})")
            chain.append(sub)
            full_name += f" {sub['name']}"
        if len(path) > len(chain):
            raise ValueError(f"/{full_name} has no further subcommand {path[len(chain)]!r}")
        declared = list(chain[-1].get("options") or ())
    elif path:
        raise ValueError(f"/{command_name} has no subcommands, got {' '.join(path)!r}")

    by_name = {o["name"]: o for o in declared}
    unknown = [name for name in options if name not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ValueError(f"/{full_name} has no option {unknown[0]!r} (known: {known})")
    if focused is not None:
        if focused not in by_name:
            raise ValueError(f"/{full_name} has no option {focused!r} to autocomplete")
        if not by_name[focused].get("autocomplete"):
            raise ValueError(f"/{full_name} option {focused!r} has no autocomplete")
    else:
        missing = [o["name"] for o in declared if o.get("required") and o["name"] not in options]
        if missing:
            raise ValueError(f"/{full_name} is missing required option(s): {', '.join(missing)}")

    leaf: list[dict[str, Any]] = []
    for option in declared:
        name = option["name"]
        if name not in options and name != focused:
            continue
        if name == focused:
            leaf.append(
                {
                    "name": name,
                    "type": option["type"],
                    "value": str(options.get(name, "")),
                    "focused": True,
                }
            )
            continue
        value = _coerce_value(option, options[name], full_name)
        if (
            option["type"] == CHANNEL
            and option.get("channel_types")
            and channel_type_of is not None
        ):
            actual = channel_type_of(value)
            if actual not in option["channel_types"]:
                raise ValueError(
                    f"/{full_name} option {name!r} accepts channel types {option['channel_types']}, "
                    f"got a channel of type {actual}"
                )
        leaf.append({"name": name, "type": option["type"], "value": value})

    result = leaf
    for node in reversed(chain):
        result = [{"name": node["name"], "type": node["type"], "options": result}]
    return result
