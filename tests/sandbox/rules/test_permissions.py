import pytest

from sandbox.rules.permissions import (
    ALL_PERMISSIONS,
    P,
    base_permissions,
    can_send,
    can_view,
    channel_permissions,
    has,
)

GUILD_ID = "100"
OWNER = "1"
ALICE = "2"
MOD_ROLE = "300"
TEAM_ROLE = "301"
ADMIN_ROLE = "302"

EVERYONE_PERMS = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.READ_MESSAGE_HISTORY
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.SEND_MESSAGES_IN_THREADS
)


def guild(everyone=EVERYONE_PERMS):
    return {
        "id": GUILD_ID,
        "owner_id": OWNER,
        "roles": [
            {"id": GUILD_ID, "permissions": str(int(everyone))},
            {"id": MOD_ROLE, "permissions": str(int(P.MANAGE_MESSAGES | P.MANAGE_THREADS))},
            {"id": TEAM_ROLE, "permissions": "0"},
            {"id": ADMIN_ROLE, "permissions": str(int(P.ADMINISTRATOR))},
        ],
    }


def member(uid=ALICE, roles=()):
    return {"user": {"id": uid}, "roles": list(roles)}


def text(overwrites=(), cid="500"):
    return {"id": cid, "type": 0, "permission_overwrites": list(overwrites)}


def ow(oid, kind, allow=0, deny=0):
    return {"id": oid, "type": kind, "allow": str(int(allow)), "deny": str(int(deny))}


def test_all_permissions_covers_every_flag():
    for flag in P:
        assert ALL_PERMISSIONS & flag
    assert P.VIEW_CHANNEL == 1 << 10 and P.SEND_MESSAGES == 1 << 11 and P.ADMINISTRATOR == 1 << 3
    assert P.SEND_MESSAGES_IN_THREADS == 1 << 38 and P.MANAGE_THREADS == 1 << 34


def test_owner_has_everything_even_when_denied():
    g = guild(everyone=0)
    assert base_permissions(g, member(OWNER)) == ALL_PERMISSIONS
    ch = text([ow(GUILD_ID, 0, deny=P.VIEW_CHANNEL), ow(OWNER, 1, deny=ALL_PERMISSIONS)])
    assert channel_permissions(g, member(OWNER), ch) == ALL_PERMISSIONS


def test_base_is_everyone_or_member_roles():
    g = guild()
    assert base_permissions(g, member()) == EVERYONE_PERMS
    assert (
        base_permissions(g, member(roles=[MOD_ROLE]))
        == EVERYONE_PERMS | P.MANAGE_MESSAGES | P.MANAGE_THREADS
    )
    # Roles the member does not have do not count.
    assert not base_permissions(g, member(roles=[TEAM_ROLE])) & P.MANAGE_MESSAGES


def test_permissions_accept_int_and_unknown_role_ids():
    g = guild()
    g["roles"][0]["permissions"] = int(EVERYONE_PERMS)
    assert base_permissions(g, member(roles=["999"])) == EVERYONE_PERMS


def test_administrator_grants_all_and_ignores_overwrites():
    g = guild()
    m = member(roles=[ADMIN_ROLE])
    assert base_permissions(g, m) == ALL_PERMISSIONS
    ch = text([ow(GUILD_ID, 0, deny=ALL_PERMISSIONS), ow(ALICE, 1, deny=ALL_PERMISSIONS)])
    assert channel_permissions(g, m, ch) == ALL_PERMISSIONS


def test_everyone_overwrite_applies_deny_then_allow():
    g = guild()
    ch = text([ow(GUILD_ID, 0, allow=P.ADD_REACTIONS, deny=P.SEND_MESSAGES | P.ADD_REACTIONS)])
    perms = channel_permissions(g, member(), ch)
    assert perms & P.ADD_REACTIONS  # allow wins over deny in the same overwrite
    assert not perms & P.SEND_MESSAGES


def test_role_overwrites_aggregate_allow_beats_deny_across_roles():
    g = guild()
    ch = text(
        [
            ow(GUILD_ID, 0, deny=P.VIEW_CHANNEL),
            ow(TEAM_ROLE, 0, allow=P.VIEW_CHANNEL),
            ow(MOD_ROLE, 0, deny=P.VIEW_CHANNEL),
        ]
    )
    # One role allows, another denies: denies are applied first, then allows.
    assert can_view(g, member(roles=[TEAM_ROLE, MOD_ROLE]), ch)
    assert not can_view(g, member(roles=[MOD_ROLE]), ch)
    assert not can_view(g, member(), ch)


def test_role_overwrite_of_role_not_held_is_ignored():
    g = guild()
    ch = text([ow(GUILD_ID, 0, deny=P.VIEW_CHANNEL), ow(TEAM_ROLE, 0, allow=P.VIEW_CHANNEL)])
    assert not can_view(g, member(roles=[MOD_ROLE]), ch)


def test_member_overwrite_beats_role_overwrites():
    g = guild()
    ch = text(
        [
            ow(TEAM_ROLE, 0, allow=P.SEND_MESSAGES),
            ow(GUILD_ID, 0, deny=P.SEND_MESSAGES),
            ow(ALICE, 1, deny=P.SEND_MESSAGES),
        ]
    )
    assert not can_send(g, member(roles=[TEAM_ROLE]), ch)
    ch2 = text([ow(TEAM_ROLE, 0, deny=P.VIEW_CHANNEL), ow(ALICE, 1, allow=P.VIEW_CHANNEL)])
    assert can_view(g, member(roles=[TEAM_ROLE]), ch2)


def test_member_overwrite_for_other_member_ignored_and_type_matters():
    g = guild()
    # A type-0 (role) overwrite whose id happens to be the member id does not apply as member overwrite.
    ch = text([ow("3", 1, deny=P.VIEW_CHANNEL), ow(ALICE, 0, deny=P.VIEW_CHANNEL)])
    assert can_view(g, member(), ch)


def test_no_view_channel_means_nothing():
    g = guild(everyone=P.SEND_MESSAGES | P.ADD_REACTIONS)
    assert channel_permissions(g, member(), text()) == 0
    assert not can_send(g, member(), text())


def test_no_send_messages_implicitly_denies_embed_attach_mention_tts():
    g = guild(everyone=EVERYONE_PERMS | P.MENTION_EVERYONE | P.SEND_TTS_MESSAGES)
    ch = text([ow(GUILD_ID, 0, deny=P.SEND_MESSAGES)])
    perms = channel_permissions(g, member(), ch)
    for flag in (P.EMBED_LINKS, P.ATTACH_FILES, P.MENTION_EVERYONE, P.SEND_TTS_MESSAGES):
        assert not perms & flag
    assert perms & P.READ_MESSAGE_HISTORY
    assert not can_send(g, member(), ch)
    assert has(channel_permissions(g, member(), text()), P.EMBED_LINKS, P.MENTION_EVERYONE)


def thread(kind=11, locked=False, cid="600", parent_id="500"):
    return {"id": cid, "type": kind, "parent_id": parent_id, "thread_metadata": {"locked": locked}}


def test_thread_inherits_parent_overwrites_and_ignores_own():
    g = guild()
    parent = text([ow(GUILD_ID, 0, deny=P.VIEW_CHANNEL), ow(TEAM_ROLE, 0, allow=P.VIEW_CHANNEL)])
    th = thread()
    th["permission_overwrites"] = [ow(GUILD_ID, 0, allow=P.VIEW_CHANNEL)]
    assert not can_view(g, member(), th, parent)
    assert can_view(g, member(roles=[TEAM_ROLE]), th, parent)


def test_thread_requires_parent():
    with pytest.raises(ValueError):
        channel_permissions(guild(), member(), thread())


def test_thread_sending_uses_send_messages_in_threads():
    g = guild()
    # SEND_MESSAGES denied in the parent, but threads still allowed.
    parent = text([ow(GUILD_ID, 0, deny=P.SEND_MESSAGES)])
    assert not can_send(g, member(), parent)
    assert can_send(g, member(), thread(), parent)
    perms = channel_permissions(g, member(), thread(), parent)
    assert perms & P.EMBED_LINKS  # implicit denial keys off SEND_MESSAGES_IN_THREADS in threads
    parent2 = text([ow(GUILD_ID, 0, deny=P.SEND_MESSAGES_IN_THREADS)])
    assert can_send(g, member(), parent2)
    assert not can_send(g, member(), thread(), parent2)
    assert not channel_permissions(g, member(), thread(), parent2) & P.ATTACH_FILES


def test_private_thread_visible_to_members_and_managers_only():
    g = guild()
    parent = text()
    th = thread(kind=12)
    assert not can_view(g, member(), th, parent, set())
    assert channel_permissions(g, member(), th, parent) == 0
    assert can_view(g, member(), th, parent, {ALICE})
    assert can_send(g, member(), th, parent, {ALICE})
    assert can_view(g, member(roles=[MOD_ROLE]), th, parent, set())
    assert can_view(g, member(OWNER), th, parent)
    # A public thread needs no membership.
    assert can_view(g, member(), thread(kind=11), parent)


def test_private_thread_member_still_needs_parent_view():
    g = guild()
    parent = text([ow(ALICE, 1, deny=P.VIEW_CHANNEL)])
    assert not can_view(g, member(), thread(kind=12), parent, {ALICE})


def test_manage_threads_via_overwrite_sees_private_thread():
    g = guild()
    parent = text([ow(TEAM_ROLE, 0, allow=P.MANAGE_THREADS)])
    assert can_view(g, member(roles=[TEAM_ROLE]), thread(kind=12), parent, set())


def test_locked_thread_needs_manage_threads_to_send():
    g = guild()
    parent = text()
    locked = thread(locked=True)
    assert can_view(g, member(), locked, parent)
    assert not can_send(g, member(), locked, parent)
    assert can_send(g, member(roles=[MOD_ROLE]), locked, parent)
