import pytest

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError


def form_errors(fn, *args, **kwargs) -> dict:
    with pytest.raises(DiscordError) as info:
        fn(*args, **kwargs)
    assert (info.value.status, info.value.code, info.value.message) == (
        400,
        50035,
        "Invalid Form Body",
    )
    return info.value.errors


def codes_at(tree: dict, *path) -> list[str]:
    node = tree
    for part in path:
        node = node[str(part)]
    return [e["code"] for e in node["_errors"]]


def button(custom_id, label="Go", style=1):
    return {"type": 2, "style": style, "label": label, "custom_id": custom_id}


def row(*children):
    return {"type": 1, "components": list(children)}


def select(custom_id="pick", n=3, **extra):
    options = [{"label": f"o{i}", "value": f"v{i}"} for i in range(n)]
    return {"type": 3, "custom_id": custom_id, "options": options, **extra}


# --- content & empty ------------------------------------------------------------------


def test_content_at_limit_passes_and_over_limit_has_discord_shape():
    limits.check_message({"content": "x" * 2000})
    tree = form_errors(limits.check_message, {"content": "x" * 2001})
    assert tree == {
        "content": {
            "_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
            ]
        }
    }


def test_empty_message_is_50006_unless_edit_or_files():
    with pytest.raises(DiscordError) as info:
        limits.check_message({"content": ""})
    assert info.value.code == 50006
    limits.check_message({}, is_edit=True)
    limits.check_message({"content": ""}, has_files=True)
    limits.check_message({"embeds": [{"title": "t"}]})


def test_wrong_type_content_reported_not_crashing():
    tree = form_errors(limits.check_message, {"content": 5})
    assert codes_at(tree, "content") == ["BASE_TYPE_STRING"]


def test_nonce_and_sticker_limits():
    tree = form_errors(
        limits.check_message,
        {"content": "a", "nonce": "n" * 26, "sticker_ids": ["1", "2", "3", "4"]},
    )
    assert codes_at(tree, "nonce") == ["BASE_TYPE_MAX_LENGTH"]
    assert codes_at(tree, "sticker_ids") == ["BASE_TYPE_MAX_LENGTH"]
    limits.check_message({"content": "a", "nonce": 123456789})


# --- embeds ---------------------------------------------------------------------------


def test_embed_count_limit():
    limits.check_message({"embeds": [{"title": "t"}] * 10})
    tree = form_errors(limits.check_message, {"embeds": [{"title": "t"}] * 11})
    assert codes_at(tree, "embeds") == ["BASE_TYPE_MAX_LENGTH"]


@pytest.mark.parametrize(
    ("embed", "path", "limit"),
    [
        ({"title": "x" * 257}, ("title",), 256),
        ({"description": "x" * 4097}, ("description",), 4096),
        ({"fields": [{"name": "x" * 257, "value": "v"}]}, ("fields", 0, "name"), 256),
        ({"fields": [{"name": "n", "value": "x" * 1025}]}, ("fields", 0, "value"), 1024),
        ({"footer": {"text": "x" * 2049}}, ("footer", "text"), 2048),
        ({"author": {"name": "x" * 257}}, ("author", "name"), 256),
    ],
)
def test_embed_field_limits(embed, path, limit):
    tree = form_errors(limits.check_message, {"embeds": [{"title": "ok"}, embed]})
    node = tree["embeds"]["1"]
    for part in path:
        node = node[str(part)]
    assert (
        node["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
        or node["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    )
    assert str(limit) in node["_errors"][0]["message"]


def test_embed_fields_count_and_required_name_value():
    fields = [{"name": "n", "value": "v"}] * 26
    tree = form_errors(limits.check_message, {"embeds": [{"fields": fields}]})
    assert codes_at(tree, "embeds", 0, "fields") == ["BASE_TYPE_MAX_LENGTH"]
    tree = form_errors(limits.check_message, {"embeds": [{"fields": [{"name": "n"}]}]})
    assert codes_at(tree, "embeds", 0, "fields", 0, "value") == ["BASE_TYPE_REQUIRED"]


def test_embed_total_6000_across_embeds():
    a = {"description": "x" * 4000}
    b = {"description": "x" * 2000}
    limits.check_message({"embeds": [a, b]})
    c = {"description": "x" * 2000, "footer": {"text": "y"}}
    tree = form_errors(limits.check_message, {"embeds": [a, c]})
    assert codes_at(tree, "embeds") == ["MAX_EMBED_SIZE_EXCEEDED"]
    assert (
        limits.embed_size(
            {"title": "ab", "fields": [{"name": "c", "value": "de"}], "author": {"name": "f"}}
        )
        == 6
    )


# --- allowed mentions & poll ------------------------------------------------------------


def test_allowed_mentions_parse_exclusive_and_values():
    limits.check_message({"content": "a", "allowed_mentions": {"parse": ["users"], "roles": ["1"]}})
    tree = form_errors(
        limits.check_message,
        {"content": "a", "allowed_mentions": {"parse": ["users", "bots"], "users": ["1"]}},
    )
    assert codes_at(tree, "allowed_mentions") == ["MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"]
    assert codes_at(tree, "allowed_mentions", "parse", 1) == ["BASE_TYPE_CHOICES"]


def test_poll_limits():
    ok = {"question": {"text": "q"}, "answers": [{"poll_media": {"text": "a"}}], "duration": 24}
    limits.check_message({"poll": ok})
    bad = {
        "question": {"text": "q" * 301},
        "answers": [{"poll_media": {"text": "a" * 56}}] * 11,
        "duration": 769,
    }
    tree = form_errors(limits.check_message, {"poll": bad})
    assert codes_at(tree, "poll", "question", "text") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "poll", "answers") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "poll", "answers", 0, "poll_media", "text") == ["BASE_TYPE_MAX_LENGTH"]
    assert codes_at(tree, "poll", "duration") == ["NUMBER_TYPE_MAX"]


# --- components -----------------------------------------------------------------------


def test_five_rows_of_five_buttons_pass():
    rows = [row(*(button(f"b{r}{c}") for c in range(5))) for r in range(5)]
    limits.check_message({"content": "x", "components": rows})


def test_six_rows_rejected():
    rows = [row(button(f"b{r}")) for r in range(6)]
    tree = form_errors(limits.check_message, {"components": rows})
    assert codes_at(tree, "components") == ["BASE_TYPE_MAX_LENGTH"]


def test_six_buttons_in_a_row_and_empty_row_rejected():
    tree = form_errors(
        limits.check_message, {"components": [row(*(button(f"b{c}") for c in range(6))), row()]}
    )
    assert codes_at(tree, "components", 0, "components") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "components", 1, "components") == ["BASE_TYPE_BAD_LENGTH"]


def test_select_must_be_alone_in_its_row():
    limits.check_message({"components": [row(select())]})
    tree = form_errors(limits.check_message, {"components": [row(select(), button("b"))]})
    assert codes_at(tree, "components", 0, "components") == ["COMPONENT_LAYOUT_WIDTH_EXCEEDED"]


def test_select_options_limits():
    limits.check_message({"components": [row(select(n=25))]})
    tree = form_errors(limits.check_message, {"components": [row(select(n=26, max_values=26))]})
    assert codes_at(tree, "components", 0, "components", 0, "options") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "components", 0, "components", 0, "max_values") == ["NUMBER_TYPE_MAX"]
    tree = form_errors(
        limits.check_message, {"components": [row(select(n=2, min_values=3, max_values=2))]}
    )
    assert codes_at(tree, "components", 0, "components", 0, "min_values") == [
        "SELECT_COMPONENT_MIN_VALUES_TOO_LARGE"
    ]
    no_options = {"type": 3, "custom_id": "s"}
    tree = form_errors(limits.check_message, {"components": [row(no_options)]})
    assert codes_at(tree, "components", 0, "components", 0, "options") == ["BASE_TYPE_REQUIRED"]
    # Entity selects need no options.
    limits.check_message({"components": [row({"type": 5, "custom_id": "users", "max_values": 25})]})


def test_select_option_text_limits_and_duplicate_values():
    sel = select(n=2)
    sel["options"][0]["label"] = "x" * 101
    sel["options"][1]["value"] = "v0"
    tree = form_errors(limits.check_message, {"components": [row(sel)]})
    opts = tree["components"]["0"]["components"]["0"]["options"]
    assert opts["0"]["label"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert opts["1"]["value"]["_errors"][0]["code"] == "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED"


def test_custom_id_length_and_button_label():
    limits.check_message({"components": [row(button("c" * 100, label="l" * 80))]})
    tree = form_errors(
        limits.check_message, {"components": [row(button("c" * 101, label="l" * 81))]}
    )
    node = tree["components"]["0"]["components"]["0"]
    assert node["custom_id"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert node["label"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"


def test_duplicate_custom_ids_across_rows():
    tree = form_errors(
        limits.check_message, {"components": [row(button("same")), row(select("same"))]}
    )
    assert codes_at(tree, "components", 1, "components", 0, "custom_id") == [
        "COMPONENT_CUSTOM_ID_DUPLICATED"
    ]


def test_link_button_rules():
    link = {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com"}
    limits.check_message({"components": [row(link)]})
    tree = form_errors(
        limits.check_message, {"components": [row({**link, "custom_id": "x"}), row(button(None))]}
    )
    assert codes_at(tree, "components", 0, "components", 0, "custom_id") == [
        "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED"
    ]
    assert codes_at(tree, "components", 1, "components", 0, "custom_id") == ["BASE_TYPE_REQUIRED"]


def test_top_level_component_must_be_action_row():
    tree = form_errors(limits.check_message, {"components": [button("b")]})
    assert codes_at(tree, "components", 0, "type") == ["UNION_TYPE_CHOICES"]


def test_components_v2_rules():
    v2 = 1 << 15
    layout = [
        {"type": 10, "content": "hello"},
        {
            "type": 17,
            "components": [
                {"type": 9, "components": [{"type": 10, "content": "t"}], "accessory": button("a")},
                row(button("b")),
            ],
        },
    ]
    limits.check_message({"flags": v2, "components": layout})
    tree = form_errors(limits.check_message, {"flags": v2, "content": "hi", "components": layout})
    assert codes_at(tree, "content") == ["MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"]
    too_many = [{"type": 10, "content": "x"}] * 41
    tree = form_errors(limits.check_message, {"flags": v2, "components": too_many})
    assert codes_at(tree, "components") == ["MAX_COMPONENTS_EXCEEDED"]
    too_long = [{"type": 10, "content": "x" * 2001}, {"type": 10, "content": "x" * 2000}]
    tree = form_errors(limits.check_message, {"flags": v2, "components": too_long})
    assert codes_at(tree, "components") == ["MAX_TEXT_LENGTH_EXCEEDED"]
    # Without the flag, the same layout is not allowed.
    tree = form_errors(limits.check_message, {"components": layout})
    assert codes_at(tree, "components", 0, "type") == ["UNION_TYPE_CHOICES"]


# --- modals ---------------------------------------------------------------------------


def text_input(custom_id="answer", **extra):
    return {"type": 4, "custom_id": custom_id, "style": 1, **extra}


def test_modal_legacy_rows_and_labels_pass():
    modal = {
        "title": "t" * 45,
        "custom_id": "m",
        "components": [
            row(text_input("a", label="l" * 45, max_length=4000)),
            {"type": 18, "label": "Pick", "component": select("s")},
            {"type": 18, "label": "Why", "description": "d", "component": text_input("b", style=2)},
            {"type": 10, "content": "Some help text"},
        ],
    }
    limits.check_modal(modal)


def test_modal_title_components_and_text_input_limits():
    modal = {
        "title": "t" * 46,
        "custom_id": "c" * 101,
        "components": [
            row(text_input(str(i), label="l" * 46, max_length=4001, min_length=-1))
            for i in range(6)
        ],
    }
    tree = form_errors(limits.check_modal, modal)
    assert codes_at(tree, "title") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "custom_id") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "components") == ["BASE_TYPE_BAD_LENGTH"]
    ti = tree["components"]["0"]["components"]["0"]
    assert ti["label"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert ti["max_length"]["_errors"][0]["code"] == "NUMBER_TYPE_MAX"
    assert ti["min_length"]["_errors"][0]["code"] == "NUMBER_TYPE_MIN"


def test_modal_requires_components_and_unique_ids():
    tree = form_errors(limits.check_modal, {"title": "t", "custom_id": "m", "components": []})
    assert codes_at(tree, "components") == ["BASE_TYPE_BAD_LENGTH"]
    dup = {
        "title": "t",
        "custom_id": "m",
        "components": [
            row(text_input("x", label="a")),
            {"type": 18, "label": "b", "component": text_input("x")},
        ],
    }
    tree = form_errors(limits.check_modal, dup)
    assert codes_at(tree, "components", 1, "component", "custom_id") == [
        "COMPONENT_CUSTOM_ID_DUPLICATED"
    ]


def test_modal_min_length_over_max_and_label_rules():
    modal = {
        "title": "t",
        "custom_id": "m",
        "components": [
            row(
                text_input("a", label="x", min_length=10, max_length=5), text_input("b", label="y")
            ),
            {"type": 18, "label": "l" * 46, "component": text_input("c", label="nope")},
            {"type": 18, "label": "ok"},
        ],
    }
    tree = form_errors(limits.check_modal, modal)
    assert codes_at(tree, "components", 0, "components") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "components", 0, "components", 0, "min_length") == [
        "TEXT_INPUT_MIN_LENGTH_TOO_LARGE"
    ]
    assert codes_at(tree, "components", 1, "label") == ["BASE_TYPE_BAD_LENGTH"]
    assert codes_at(tree, "components", 1, "component", "label") == ["TEXT_INPUT_LABEL_NOT_ALLOWED"]
    assert codes_at(tree, "components", 2, "component") == ["BASE_TYPE_REQUIRED"]


# --- uploads --------------------------------------------------------------------------


def test_uploads_over_ten_mib_each_or_more_than_ten_files_are_refused():
    limits.check_uploads([limits.UPLOAD_SIZE_MAX] * 10)
    with pytest.raises(DiscordError) as info:
        limits.check_uploads([1, limits.UPLOAD_SIZE_MAX + 1])
    assert (info.value.status, info.value.code) == (413, 40005)
    tree = form_errors(limits.check_uploads, [1] * 11)
    assert codes_at(tree, "attachments") == ["BASE_TYPE_MAX_LENGTH"]


@pytest.mark.parametrize(
    "embed, shows",
    [
        ({"color": 5, "url": "https://example.com", "timestamp": "2026-01-01T00:00:00Z"}, False),
        ({"fields": [], "image": {"url": ""}}, False),
        ({"title": "t"}, True),
        ({"fields": [{"name": "n", "value": "v"}]}, True),
        ({"footer": {"text": "f"}}, True),
        ({"author": {"name": "a"}}, True),
        ({"thumbnail": {"url": "https://example.com/t.png"}}, True),
    ],
)
def test_an_embed_without_text_or_media_is_empty(embed, shows):
    assert limits.embed_has_content(embed) is shows
    if shows:
        limits.check_message({"embeds": [embed]})
    else:
        with pytest.raises(DiscordError) as info:
            limits.check_message({"embeds": [embed]})
        assert info.value.code == 50006
