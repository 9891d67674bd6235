import copy

import pytest

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError

from .test_limits_messages import codes_at, form_errors

# The shape discord.py 2.7 syncs (CommandTree.to_dict), trimmed to the fields that matter.
TEAM = {
    "name": "team",
    "description": "Team commands",
    "type": 1,
    "options": [
        {
            "name": "create",
            "description": "Create a team",
            "type": 1,
            "options": [
                {
                    "type": 3,
                    "name": "name",
                    "description": "Team name",
                    "required": True,
                    "min_length": 2,
                    "max_length": 32,
                },
                {
                    "type": 4,
                    "name": "size",
                    "description": "…",
                    "required": False,
                    "min_value": 2,
                    "max_value": 5,
                },
                {
                    "type": 3,
                    "name": "lang",
                    "description": "…",
                    "required": False,
                    "choices": [
                        {"name": "English", "value": "en"},
                        {"name": "Français", "value": "fr"},
                    ],
                },
                {"type": 6, "name": "member", "description": "…", "required": False},
                {
                    "type": 7,
                    "name": "where",
                    "description": "…",
                    "required": False,
                    "channel_types": [0, 5],
                },
                {
                    "type": 10,
                    "name": "ratio",
                    "description": "…",
                    "required": False,
                    "min_value": 0.5,
                },
                {"type": 5, "name": "private", "description": "…", "required": False},
                {"type": 11, "name": "logo", "description": "…", "required": False},
                {"type": 8, "name": "role", "description": "…", "required": False},
                {"type": 9, "name": "who", "description": "…", "required": False},
                {
                    "type": 3,
                    "name": "topic",
                    "description": "…",
                    "required": False,
                    "autocomplete": True,
                },
            ],
        },
        {
            "name": "admin",
            "description": "Organiser tools",
            "type": 2,
            "options": [
                {"name": "kick", "description": "Remove a member", "type": 1, "options": []},
                {
                    "name": "rename",
                    "description": "Rename",
                    "type": 1,
                    "options": [
                        {"type": 3, "name": "to", "description": "New name", "required": True}
                    ],
                },
            ],
        },
    ],
    "nsfw": False,
    "dm_permission": True,
    "default_member_permissions": None,
    "contexts": None,
    "integration_types": None,
}
PING = {"name": "ping", "description": "Ping", "type": 1, "options": []}


def cmd(**changes):
    command = copy.deepcopy(TEAM)
    command.update(changes)
    return command


def leaf_options(command):
    return command["options"][0]["options"]


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ping", "équipe", "team-2", "a_b", "x" * 32, "डेटा", "ทีม", "チーム", "队伍", "٣"]
)
def test_valid_chat_input_names(name):
    assert limits.is_valid_chat_input_name(name)


@pytest.mark.parametrize(
    "name", ["", "Ping", "ÉQUIPE", "has space", "x" * 33, "emoji😀", "dot.name", None, 5]
)
def test_invalid_chat_input_names(name):
    assert not limits.is_valid_chat_input_name(name)


def test_invalid_command_name_error_shape():
    tree = form_errors(limits.check_command, cmd(name="Team"))
    assert tree == {
        "name": {
            "_errors": [
                {"code": "APPLICATION_COMMAND_INVALID_NAME", "message": "Command name is invalid"}
            ]
        }
    }
    tree = form_errors(limits.check_command, cmd(name="x" * 33))
    assert codes_at(tree, "name") == ["BASE_TYPE_BAD_LENGTH"]


def test_localizations_checked_like_defaults():
    limits.check_command(
        cmd(name_localizations={"fr": "équipe"}, description_localizations={"fr": "Équipes"})
    )
    tree = form_errors(
        limits.check_command,
        cmd(
            name_localizations={"fr": "Équipe", "xx": "a"},
            description_localizations={"fr": "d" * 101},
        ),
    )
    assert codes_at(tree, "name_localizations", "fr") == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert codes_at(tree, "name_localizations") == ["ENUM_TYPE_COERCE"]
    assert codes_at(tree, "description_localizations", "fr") == ["BASE_TYPE_BAD_LENGTH"]


def test_description_required_and_bounded():
    tree = form_errors(limits.check_command, cmd(description=""))
    assert codes_at(tree, "description") == ["BASE_TYPE_BAD_LENGTH"]
    tree = form_errors(limits.check_command, cmd(description="d" * 101))
    assert codes_at(tree, "description") == ["BASE_TYPE_BAD_LENGTH"]


def test_discord_py_shaped_commands_pass():
    limits.check_command(TEAM)
    limits.check_command(PING)
    limits.check_commands_bulk([TEAM, PING])


def test_context_menu_commands():
    limits.check_command({"name": "Report Message", "type": 3, "description": ""})
    tree = form_errors(
        limits.check_command, {"name": "Profile", "type": 2, "description": "x", "options": [PING]}
    )
    assert codes_at(tree, "description") == ["APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION"]
    assert codes_at(tree, "options") == ["APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS"]


# --- options --------------------------------------------------------------------------


def opt(name, kind=3, required=False, **extra):
    return {"name": name, "description": "d", "type": kind, "required": required, **extra}


def test_25_options_max():
    limits.check_command(cmd(options=[opt(f"o{i}") for i in range(25)]))
    tree = form_errors(limits.check_command, cmd(options=[opt(f"o{i}") for i in range(26)]))
    assert codes_at(tree, "options") == ["BASE_TYPE_MAX_LENGTH"]


def test_required_before_optional():
    limits.check_command(cmd(options=[opt("a", required=True), opt("b")]))
    tree = form_errors(limits.check_command, cmd(options=[opt("a"), opt("b", required=True)]))
    assert codes_at(tree, "options") == ["APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"]


def test_option_names_unique_and_valid():
    tree = form_errors(limits.check_command, cmd(options=[opt("a"), opt("a"), opt("Bad")]))
    assert codes_at(tree, "options", 1, "name") == ["APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME"]
    assert codes_at(tree, "options", 2, "name") == ["APPLICATION_COMMAND_INVALID_NAME"]


def test_choices_limits():
    choices = [{"name": f"c{i}", "value": f"v{i}"} for i in range(25)]
    limits.check_command(cmd(options=[opt("a", choices=choices)]))
    too_many = [*choices, {"name": "x", "value": "y"}]
    tree = form_errors(limits.check_command, cmd(options=[opt("a", choices=too_many)]))
    assert codes_at(tree, "options", 0, "choices") == ["BASE_TYPE_MAX_LENGTH"]
    bad = [{"name": "n" * 101, "value": "v" * 101}]
    tree = form_errors(
        limits.check_command,
        cmd(options=[opt("a", choices=bad), opt("b", 5, choices=[{"name": "t", "value": True}])]),
    )
    assert codes_at(tree, "options", 0, "choices", 0, "name") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "options", 0, "choices", 0, "value") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "options", 1, "choices") == [
        "APPLICATION_COMMAND_OPTION_CHOICES_NOT_ALLOWED"
    ]
    tree = form_errors(
        limits.check_command, cmd(options=[opt("n", 4, choices=[{"name": "x", "value": "1"}])])
    )
    assert codes_at(tree, "options", 0, "choices", 0, "value") == ["NUMBER_TYPE_COERCE"]
    tree = form_errors(
        limits.check_command, cmd(options=[opt("a", choices=choices[:2], autocomplete=True)])
    )
    assert codes_at(tree, "options", 0, "autocomplete") == [
        "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES"
    ]


def test_value_and_length_bounds():
    limits.check_command(
        cmd(
            options=[opt("n", 4, min_value=1, max_value=5), opt("s", min_length=0, max_length=6000)]
        )
    )
    tree = form_errors(
        limits.check_command,
        cmd(
            options=[
                opt("n", 4, min_value=5, max_value=1),
                opt("s", min_length=10, max_length=6001),
                opt("b", 5, min_value=1, max_length=2),
                opt("c", 3, channel_types=[0]),
            ]
        ),
    )
    assert codes_at(tree, "options", 0, "min_value") == [
        "APPLICATION_COMMAND_OPTION_MIN_GREATER_THAN_MAX"
    ]
    assert codes_at(tree, "options", 1, "max_length") == ["NUMBER_TYPE_MAX"]
    assert codes_at(tree, "options", 2, "min_value") == [
        "APPLICATION_COMMAND_OPTION_BOUND_NOT_ALLOWED"
    ]
    assert codes_at(tree, "options", 2, "max_length") == [
        "APPLICATION_COMMAND_OPTION_BOUND_NOT_ALLOWED"
    ]
    assert codes_at(tree, "options", 3, "channel_types") == [
        "APPLICATION_COMMAND_OPTION_CHANNEL_TYPES_NOT_ALLOWED"
    ]


def test_nesting_rules():
    sub = opt("sub", 1, options=[opt("x")])
    group = opt("grp", 2, options=[sub])
    limits.check_command(cmd(options=[group, opt("other", 1)]))
    # subcommands mixed with plain options at top level
    tree = form_errors(limits.check_command, cmd(options=[sub, opt("plain")]))
    assert codes_at(tree, "options") == ["APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"]
    # group inside a group (only one level of nesting)
    tree = form_errors(limits.check_command, cmd(options=[opt("outer", 2, options=[group])]))
    assert codes_at(tree, "options", 0, "options") == ["APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"]
    # plain option directly in a group
    tree = form_errors(limits.check_command, cmd(options=[opt("g", 2, options=[opt("plain")])]))
    assert codes_at(tree, "options", 0, "options") == ["APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"]
    # subcommand inside a subcommand
    tree = form_errors(limits.check_command, cmd(options=[opt("s", 1, options=[sub])]))
    assert codes_at(tree, "options", 0, "options") == ["APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"]
    # options on a plain option
    tree = form_errors(limits.check_command, cmd(options=[opt("p", 3, options=[opt("x")])]))
    assert codes_at(tree, "options", 0, "options") == [
        "APPLICATION_COMMAND_OPTION_OPTIONS_NOT_ALLOWED"
    ]


def test_25_groups_of_25_subcommands_allowed():
    groups = [opt(f"g{g}", 2, options=[opt(f"s{s}", 1) for s in range(25)]) for g in range(25)]
    command = cmd(description="d", options=groups)
    for group in groups:
        for sub in group["options"]:
            sub["description"] = "d"
        group["description"] = "d"
    limits.check_command(command)


# --- 8000 characters ----------------------------------------------------------------


def test_command_size_counts_names_descriptions_and_choices():
    command = {
        "name": "abc",  # 3
        "description": "hello",  # 5
        "options": [
            {
                "name": "opt",  # 3
                "description": "de",  # 2
                "type": 3,
                "choices": [{"name": "one", "value": "1"}],  # 3 + 1
            }
        ],
    }
    assert limits.command_size(command) == 17
    # Only the longest of default and localizations counts, per field.
    command["description_localizations"] = {"fr": "bonjour!", "de": "hallo"}
    assert limits.command_size(command) == 20
    command["options"][0]["choices"][0]["value"] = 12345
    assert limits.command_size(command) == 24


def test_command_over_8000_rejected():
    def group(g):
        subs = [
            {"name": f"s{s}", "description": "d" * 100, "type": 1, "options": []} for s in range(10)
        ]
        return {"name": f"g{g}", "description": "d" * 100, "type": 2, "options": subs}

    command = {
        "name": "big",
        "description": "d",
        "type": 1,
        "options": [group(g) for g in range(7)],
    }
    assert limits.command_size(command) > 7000
    limits.check_command(command)
    command["options"].append(group(7))
    assert limits.command_size(command) > 8000
    tree = form_errors(limits.check_command, command)
    assert codes_at(tree) == ["APPLICATION_COMMAND_TOO_LARGE"]


def test_localization_can_push_over_8000():
    def option(i, localized):
        loc = {"fr": "f" * 100} if localized else None
        choice_loc = {"fr": "é" * 100} if localized else None
        return {
            "name": f"o{i}",
            "description": "d",
            "description_localizations": loc,
            "type": 3,
            "choices": [
                {"name": "c", "value": f"{j}", "name_localizations": choice_loc} for j in range(25)
            ],
        }

    plain = {
        "name": "big",
        "description": "d",
        "type": 1,
        "options": [option(i, False) for i in range(4)],
    }
    assert limits.command_size(plain) < 1000
    limits.check_command(plain)
    localized = {
        "name": "big",
        "description": "d",
        "type": 1,
        "options": [option(i, True) for i in range(4)],
    }
    assert limits.command_size(localized) > 8000
    tree = form_errors(limits.check_command, localized)
    assert codes_at(tree) == ["APPLICATION_COMMAND_TOO_LARGE"]


# --- bulk -----------------------------------------------------------------------------


def test_bulk_nests_errors_under_index_and_rejects_duplicates():
    tree = form_errors(limits.check_commands_bulk, [PING, cmd(name="Bad"), copy.deepcopy(PING)])
    assert codes_at(tree, 1, "name") == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert codes_at(tree, 2, "name") == ["APPLICATION_COMMANDS_DUPLICATE_NAME"]
    # same name, different type is fine
    limits.check_commands_bulk([PING, {"name": "ping", "type": 2, "description": ""}])


def test_bulk_100_chat_input_commands_max():
    commands = [{"name": f"c{i}", "description": "d", "type": 1} for i in range(100)]
    limits.check_commands_bulk(commands)
    with pytest.raises(DiscordError) as info:
        limits.check_commands_bulk([*commands, {"name": "extra", "description": "d"}])
    assert (info.value.status, info.value.code) == (400, 30032)


def test_daily_command_creates():
    limits.check_command_creates_today(199)
    with pytest.raises(DiscordError) as info:
        limits.check_command_creates_today(200)
    assert info.value.code == 30034


# --- invocation -----------------------------------------------------------------------


def test_invocation_builds_nested_options_in_declared_order():
    data = limits.validate_invocation(
        TEAM,
        ["create"],
        {"size": 4, "name": "Rocket", "member": 1234, "lang": "fr", "ratio": 2, "private": True},
    )
    assert data == [
        {
            "name": "create",
            "type": 1,
            "options": [
                {"name": "name", "type": 3, "value": "Rocket"},
                {"name": "size", "type": 4, "value": 4},
                {"name": "lang", "type": 3, "value": "fr"},
                {"name": "member", "type": 6, "value": "1234"},
                {"name": "ratio", "type": 10, "value": 2},
                {"name": "private", "type": 5, "value": True},
            ],
        }
    ]


def test_invocation_group_and_subcommand_without_options():
    assert limits.validate_invocation(TEAM, ["admin", "kick"], {}) == [
        {"name": "admin", "type": 2, "options": [{"name": "kick", "type": 1, "options": []}]}
    ]
    assert limits.validate_invocation(TEAM, ["admin", "rename"], {"to": "x"}) == [
        {
            "name": "admin",
            "type": 2,
            "options": [
                {"name": "rename", "type": 1, "options": [{"name": "to", "type": 3, "value": "x"}]}
            ],
        }
    ]


def test_invocation_plain_command():
    assert limits.validate_invocation(PING, [], {}) == []
    with pytest.raises(ValueError, match="no subcommands"):
        limits.validate_invocation(PING, ["x"], {})


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ([], {}, "needs a subcommand"),
        (["nope"], {}, "no subcommand 'nope'"),
        (["admin"], {}, "is a group"),
        (["admin", "nope"], {}, "no subcommand 'nope'"),
        (["create", "deeper"], {"name": "ab"}, "no further subcommand"),
        (["create"], {}, "missing required option.*name"),
        (["create"], {"name": "ab", "colour": "red"}, "no option 'colour'"),
        (["create"], {"name": 5}, "expects a string"),
        (["create"], {"name": "a"}, "at least 2 characters"),
        (["create"], {"name": "a" * 33}, "at most 32 characters"),
        (["create"], {"name": "ab", "size": 1}, "at least 2"),
        (["create"], {"name": "ab", "size": 6}, "at most 5"),
        (["create"], {"name": "ab", "size": 2.5}, "expects an integer"),
        (["create"], {"name": "ab", "size": True}, "expects an integer"),
        (["create"], {"name": "ab", "lang": "de"}, "one of the choices"),
        (["create"], {"name": "ab", "ratio": 0.1}, "at least 0.5"),
        (["create"], {"name": "ab", "ratio": "1"}, "expects a number"),
        (["create"], {"name": "ab", "private": 1}, "true or false"),
        (["create"], {"name": "ab", "member": "alice"}, "snowflake"),
        (["create"], {"name": "ab", "role": -3}, "snowflake"),
    ],
)
def test_invocation_rejections(path, options, message):
    with pytest.raises(ValueError, match=message):
        limits.validate_invocation(TEAM, path, options)


def test_invocation_snowflake_types_become_strings():
    data = limits.validate_invocation(
        TEAM, ["create"], {"name": "ab", "where": 5, "logo": "77", "role": 8, "who": "9"}
    )
    values = {o["name"]: o["value"] for o in data[0]["options"]}
    assert values == {"name": "ab", "where": "5", "logo": "77", "role": "8", "who": "9"}


def test_invocation_channel_types_checked_when_resolver_given():
    types = {"5": 0, "6": 2}
    limits.validate_invocation(
        TEAM, ["create"], {"name": "ab", "where": 5}, channel_type_of=types.get
    )
    with pytest.raises(ValueError, match="channel types"):
        limits.validate_invocation(
            TEAM, ["create"], {"name": "ab", "where": 6}, channel_type_of=types.get
        )


def test_autocomplete_payload():
    data = limits.validate_invocation(TEAM, ["create"], {"topic": "ro", "size": 3}, focused="topic")
    assert data[0]["options"] == [
        {"name": "size", "type": 4, "value": 3},
        {"name": "topic", "type": 3, "value": "ro", "focused": True},
    ]
    with pytest.raises(ValueError, match="no autocomplete"):
        limits.validate_invocation(TEAM, ["create"], {"name": "r"}, focused="name")


def test_context_menu_invocation():
    assert limits.validate_invocation({"name": "Report", "type": 3}, [], {}) == []
    with pytest.raises(ValueError):
        limits.validate_invocation({"name": "Report", "type": 3}, [], {"x": 1})


def test_autocomplete_choices_follow_the_focused_option():
    data = {
        "options": [
            {"name": "join", "type": 1, "options": [{"name": "n", "type": 4, "focused": True}]}
        ]
    }
    assert limits.focused_option_type(data) == 4
    limits.check_autocomplete_choices([{"name": "seven", "value": 7}], 4)
    tree = form_errors(limits.check_autocomplete_choices, [{"name": "seven", "value": "7"}], 4)
    assert codes_at(tree, "data", "choices", 0, "value") == ["NUMBER_TYPE_COERCE"]
    tree = form_errors(limits.check_autocomplete_choices, [{"name": "", "value": "v"}] * 26, 3)
    assert codes_at(tree, "data", "choices") == ["BASE_TYPE_MAX_LENGTH"]
    assert codes_at(tree, "data", "choices", 0, "name") == ["BASE_TYPE_BAD_LENGTH"]
