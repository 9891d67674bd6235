"""Who a message would actually ping, from its content and ``allowed_mentions``.

Discord's rules: without ``allowed_mentions`` every user mention pings, a role
mention pings when the role is mentionable or the author may mention everyone,
and ``@everyone``/``@here`` ping only with MENTION_EVERYONE. With
``allowed_mentions`` only the listed kinds (``parse``) or ids (``users``,
``roles``) ping, within the same permission limits. A reply pings the replied-to
author unless ``replied_user`` is false (it defaults to true only when
``allowed_mentions`` is absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
EVERYONE = re.compile(r"@(everyone|here)")


@dataclass
class Pings:
    users: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    everyone: bool = False
    here: bool = False

    def as_dict(self) -> dict:
        return {
            "users": list(self.users),
            "roles": list(self.roles),
            "everyone": self.everyone,
            "here": self.here,
        }

    def __bool__(self) -> bool:
        return bool(self.users or self.roles or self.everyone or self.here)


def _ordered_unique(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def compute_pings(
    content: str,
    allowed_mentions: dict | None,
    *,
    known_users: set[str],
    mentionable_roles: set[str],
    all_roles: set[str],
    can_mention_everyone: bool,
    replied_user_id: str | None = None,
) -> Pings:
    content = content or ""
    users = [u for u in _ordered_unique(USER_MENTION.findall(content)) if u in known_users]
    roles = [r for r in _ordered_unique(ROLE_MENTION.findall(content)) if r in all_roles]
    tags = set(EVERYONE.findall(content))

    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        allowed_users: set[str] | None = None
        allowed_roles: set[str] | None = None
        replied = True
    else:
        parse = set(allowed_mentions.get("parse") or [])
        allowed_users = {str(u) for u in allowed_mentions.get("users") or []}
        allowed_roles = {str(r) for r in allowed_mentions.get("roles") or []}
        replied = bool(allowed_mentions.get("replied_user", False))

    pinged_users = [
        u for u in users if "users" in parse or (allowed_users is not None and u in allowed_users)
    ]
    pinged_roles = [
        r
        for r in roles
        if ("roles" in parse or (allowed_roles is not None and r in allowed_roles))
        and (r in mentionable_roles or can_mention_everyone)
    ]
    everyone_ok = "everyone" in parse and can_mention_everyone
    pings = Pings(
        users=pinged_users,
        roles=pinged_roles,
        everyone=everyone_ok and "everyone" in tags,
        here=everyone_ok and "here" in tags,
    )
    if replied_user_id is not None and replied and replied_user_id not in pings.users:
        pings.users.append(replied_user_id)
    return pings
