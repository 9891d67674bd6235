import pytest

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError

from .test_limits_messages import codes_at, form_errors


def channels(n, *, kind=0, parent=None, start=1000):
    return [{"id": str(start + i), "type": kind, "parent_id": parent} for i in range(n)]


def count_error(fn, *args):
    with pytest.raises(DiscordError) as info:
        fn(*args)
    assert info.value.status == 400
    return info.value.code


def test_500_channels_per_guild_threads_not_counted():
    existing = channels(499) + channels(50, kind=11, start=5000)
    limits.check_channel_create(existing, {"name": "one-more"})
    assert count_error(limits.check_channel_create, channels(500), {"name": "x"}) == 30013


def test_50_channels_per_category():
    category = {"id": "1", "type": 4, "parent_id": None}
    existing = [category, *channels(49, parent="1")]
    limits.check_channel_create(existing, {"name": "team-50", "parent_id": "1"})
    existing = [category, *channels(50, parent="1"), *channels(3, kind=11, parent="1", start=9000)]
    tree = form_errors(limits.check_channel_create, existing, {"name": "team-51", "parent_id": "1"})
    assert tree == {
        "parent_id": {
            "_errors": [
                {
                    "code": "CHANNEL_PARENT_MAX_CHANNELS",
                    "message": "Maximum number of channels in category reached (50)",
                }
            ]
        }
    }
    # Another category is fine.
    limits.check_channel_create(
        [*existing, {"id": "2", "type": 4}], {"name": "x", "parent_id": "2"}
    )


def test_channel_parent_must_be_category_and_fields_bounded():
    existing = [{"id": "1", "type": 0}]
    tree = form_errors(
        limits.check_channel_create,
        existing,
        {
            "name": "",
            "parent_id": "1",
            "topic": "t" * 1025,
            "rate_limit_per_user": 21601,
            "type": 11,
        },
    )
    assert codes_at(tree, "parent_id") == ["CHANNEL_PARENT_INVALID_TYPE"]
    assert codes_at(tree, "name") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "topic") == ["BASE_TYPE_MAX_LENGTH"]
    assert codes_at(tree, "rate_limit_per_user") == ["NUMBER_TYPE_MAX"]
    assert codes_at(tree, "type") == ["BASE_TYPE_CHOICES"]
    tree = form_errors(
        limits.check_channel_create,
        [{"id": "1", "type": 4}],
        {"name": "c", "type": 4, "parent_id": "1"},
    )
    assert codes_at(tree, "parent_id") == ["CHANNEL_PARENT_INVALID_TYPE"]
    limits.check_channel_create([], {"name": "forum", "type": 15, "topic": "t" * 4096})


def test_channel_update_move_into_full_category_and_rename_length():
    category = {"id": "1", "type": 4}
    full = [category, *channels(50, parent="1")]
    moving = {"id": "77", "type": 0, "parent_id": None}
    tree = form_errors(limits.check_channel_update, [*full, moving], moving, {"parent_id": "1"})
    assert codes_at(tree, "parent_id") == ["CHANNEL_PARENT_MAX_CHANNELS"]
    # A channel already in the category can be edited.
    inside = full[1]
    limits.check_channel_update(full, inside, {"parent_id": "1", "name": "renamed"})
    tree = form_errors(limits.check_channel_update, full, inside, {"name": "n" * 101})
    assert codes_at(tree, "name") == ["BASE_TYPE_BAD_LENGTH"]


def test_thread_update_rules():
    thread = {"id": "9", "type": 11, "parent_id": "1"}
    limits.check_channel_update(
        [], thread, {"auto_archive_duration": 4320, "applied_tags": ["1"] * 5}
    )
    tree = form_errors(
        limits.check_channel_update,
        [],
        thread,
        {"auto_archive_duration": 30, "applied_tags": ["1"] * 6},
    )
    assert codes_at(tree, "auto_archive_duration") == ["BASE_TYPE_CHOICES"]
    assert codes_at(tree, "applied_tags") == ["BASE_TYPE_MAX_LENGTH"]


def test_roles_250():
    limits.check_role_create([{"id": str(i)} for i in range(249)], {"name": "r"})
    assert count_error(limits.check_role_create, [{"id": str(i)} for i in range(250)]) == 30005
    tree = form_errors(limits.check_role_create, [], {"name": "n" * 101})
    assert codes_at(tree, "name") == ["BASE_TYPE_MAX_LENGTH"]


def test_active_threads_1000_and_thread_payload():
    limits.check_thread_create(999)
    assert count_error(limits.check_thread_create, 1000) == 160006
    for duration in limits.AUTO_ARCHIVE_DURATIONS:
        limits.check_thread_create(0, {"name": "t", "auto_archive_duration": duration})
    tree = form_errors(
        limits.check_thread_create,
        0,
        {"name": "t", "auto_archive_duration": 120, "applied_tags": list("123456")},
    )
    assert tree["auto_archive_duration"]["_errors"][0] == {
        "code": "BASE_TYPE_CHOICES",
        "message": "Value must be one of {60, 1440, 4320, 10080}.",
    }
    assert codes_at(tree, "applied_tags") == ["BASE_TYPE_MAX_LENGTH"]
    tree = form_errors(limits.check_thread_create, 0, {"auto_archive_duration": 60})
    assert codes_at(tree, "name") == ["BASE_TYPE_REQUIRED"]


def test_pins_events_thread_members():
    limits.check_pin(249)
    assert count_error(limits.check_pin, 250) == 30003
    limits.check_scheduled_event_create(99)
    assert count_error(limits.check_scheduled_event_create, 100) == 30038
    limits.check_thread_member_add(999)
    assert count_error(limits.check_thread_member_add, 1000) == 30033


def test_forum_tags_twenty_of_twenty_characters_at_most():
    tags = [{"name": "t" * 20} for _ in range(20)]
    limits.check_channel_create([], {"name": "f", "type": 15, "available_tags": tags})
    tree = form_errors(
        limits.check_channel_create, [], {"name": "f", "type": 15, "available_tags": [*tags, {}]}
    )
    assert codes_at(tree, "available_tags") == ["BASE_TYPE_MAX_LENGTH"]
    channel = {"id": "1", "type": 15}
    tree = form_errors(
        limits.check_channel_update, [], channel, {"available_tags": [{"name": "t" * 21}]}
    )
    assert codes_at(tree, "available_tags", 0, "name") == ["BASE_TYPE_MAX_LENGTH"]


def test_channel_names_are_normalised_for_text_news_and_forum_only():
    assert limits.normalise_channel_name("Les Hiboux !", 0) == "les-hiboux"
    assert limits.normalise_channel_name("a.b,c'd", 5) == "abcd"
    assert limits.normalise_channel_name("Les Hiboux", 4) == "Les Hiboux"
    assert limits.normalise_channel_name("Les Hiboux", 11) == "Les Hiboux"
    tree = form_errors(limits.normalise_channel_name, "?!", 15)
    assert codes_at(tree, "name") == ["BASE_TYPE_BAD_LENGTH"]
