"""Finding buttons, selects and modal fields in Discord component trees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
USER_SELECT = 5
ROLE_SELECT = 6
MENTIONABLE_SELECT = 7
CHANNEL_SELECT = 8
SECTION = 9
TEXT_DISPLAY = 10
CONTAINER = 17
LABEL = 18

SELECT_TYPES = frozenset(
    {STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT}
)
LINK_STYLE = 5
PREMIUM_STYLE = 6


def walk(components: list[dict]) -> Iterator[dict]:
    """Every component of a message or modal, depth first (rows, sections, containers, labels)."""
    for component in components or []:
        yield component
        if "components" in component:
            yield from walk(component["components"])
        if "accessory" in component:
            yield from walk([component["accessory"]])
        if "component" in component:
            yield from walk([component["component"]])


def text_of(components: list[dict]) -> str:
    """The text of Components V2 text displays, joined by newlines."""
    return "\n".join(
        c.get("content", "") for c in walk(components) if c.get("type") == TEXT_DISPLAY
    )


def buttons(components: list[dict]) -> list[dict]:
    return [c for c in walk(components) if c.get("type") == BUTTON]


def selects(components: list[dict]) -> list[dict]:
    return [c for c in walk(components) if c.get("type") in SELECT_TYPES]


def button_label(button: dict) -> str:
    if button.get("label"):
        return str(button["label"])
    emoji = button.get("emoji") or {}
    return str(emoji.get("name") or "")


def find_button(components: list[dict], label: str | None, custom_id: str | None) -> dict:
    found = buttons(components)
    if custom_id is not None:
        matches = [b for b in found if b.get("custom_id") == custom_id]
    else:
        matches = [b for b in found if button_label(b) == label]
    labels = [button_label(b) for b in found]
    if not matches:
        what = f"custom_id {custom_id!r}" if custom_id is not None else repr(label)
        raise LookupError(f"no button {what} on the message (buttons: {labels})")
    if len(matches) > 1:
        raise LookupError(
            f"several buttons labelled {label!r}; pass custom_id= (buttons: {labels})"
        )
    button = matches[0]
    if button.get("style") in (LINK_STYLE, PREMIUM_STYLE) or "custom_id" not in button:
        raise ValueError(
            f"button {button_label(button)!r} is a link: clicking it sends nothing to the bot"
        )
    if button.get("disabled"):
        raise ValueError(f"button {button_label(button)!r} is disabled")
    return button


def find_select(components: list[dict], name: str | None) -> dict:
    found = selects(components)
    if name is None:
        if len(found) != 1:
            raise LookupError(f"{len(found)} select menus on the message: name the one to use")
        select = found[0]
    else:
        matches = [s for s in found if name in (s.get("placeholder"), s.get("custom_id"))]
        if not matches:
            names = [s.get("placeholder") or s.get("custom_id") for s in found]
            raise LookupError(f"no select menu {name!r} (placeholders/custom ids: {names})")
        if len(matches) > 1:
            raise LookupError(f"several select menus match {name!r}")
        select = matches[0]
    if select.get("disabled"):
        raise ValueError(f"select menu {name or select.get('custom_id')!r} is disabled")
    return select


def select_values(select: dict, values: list[Any]) -> list[str]:
    """Option values chosen in a string select, given values or labels; checks min/max_values."""
    chosen: list[str] = []
    if select.get("type") == STRING_SELECT:
        options = select.get("options") or []
        for value in values:
            match = [o for o in options if o.get("value") == value] or [
                o for o in options if o.get("label") == value
            ]
            if not match:
                labels = [o.get("label") for o in options]
                raise ValueError(
                    f"{value!r} is not an option of the select menu (options: {labels})"
                )
            chosen.append(match[0]["value"])
    else:
        chosen = [str(v) for v in values]
    low = int(select.get("min_values", 1) if select.get("min_values") is not None else 1)
    high = int(select.get("max_values", 1) if select.get("max_values") is not None else 1)
    if not low <= len(chosen) <= high:
        raise ValueError(f"choose between {low} and {high} values, not {len(chosen)}")
    return chosen


def modal_fields(modal: dict) -> list[tuple[str, dict, dict]]:
    """(label, top-level component, input component) for every input of a modal."""
    fields = []
    for top in modal.get("components") or []:
        if top.get("type") == ACTION_ROW:
            for inner in top.get("components") or []:
                fields.append((str(inner.get("label") or inner.get("custom_id")), top, inner))
        elif top.get("type") == LABEL:
            inner = top.get("component") or {}
            fields.append((str(top.get("label") or inner.get("custom_id")), top, inner))
    return fields


def fill_modal(modal: dict, values: dict[str, Any]) -> list[dict]:
    """The ``data.components`` of a MODAL_SUBMIT for ``modal`` filled with ``values`` (by label
    or custom_id); raises ValueError where Discord's client would refuse to submit."""
    fields = modal_fields(modal)
    known = {label for label, _top, _inner in fields} | {
        inner.get("custom_id") for _label, _top, inner in fields
    }
    unknown = [k for k in values if k not in known]
    if unknown:
        labels = [label for label, _top, _inner in fields]
        raise ValueError(f"the modal has no field {unknown[0]!r} (fields: {labels})")
    submitted: list[dict] = []
    for label, top, inner in fields:
        value = values.get(label, values.get(inner.get("custom_id"), None))
        kind = inner.get("type")
        if kind == TEXT_INPUT:
            text = "" if value is None else str(value)
            if not text and inner.get("value"):
                text = str(inner["value"])  # pre-filled value left untouched
            required = inner.get("required", True)
            if required and not text:
                raise ValueError(f"modal field {label!r} is required")
            low = inner.get("min_length")
            high = inner.get("max_length")
            if text and low is not None and len(text) < int(low):
                raise ValueError(f"modal field {label!r} needs at least {low} characters")
            if high is not None and len(text) > int(high):
                raise ValueError(f"modal field {label!r} takes at most {high} characters")
            answer: dict[str, Any] = {
                "type": TEXT_INPUT,
                "custom_id": inner.get("custom_id"),
                "value": text,
            }
        elif kind in SELECT_TYPES:
            chosen = select_values(inner, list(value or []))
            answer = {"type": kind, "custom_id": inner.get("custom_id"), "values": chosen}
        else:
            continue
        if "id" in inner:
            answer["id"] = inner["id"]
        if top.get("type") == LABEL:
            entry = {"type": LABEL, "component": answer}
            if "id" in top:
                entry["id"] = top["id"]
        else:
            entry = {"type": ACTION_ROW, "components": [answer]}
            if "id" in top:
                entry["id"] = top["id"]
        submitted.append(entry)
    return submitted
