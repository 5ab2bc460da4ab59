"""The emulator refuses message bodies (create and edit) the way Discord's documents say Discord does.

Sources: discord-api-docs c98d64bc ``developers/resources/message.mdx`` ("MSG"),
``developers/components/reference.mdx`` ("COMP"), ``developers/reference.mdx`` (uploads), and
discord-api-spec 74fda0fa ``specs/openapi.json`` (``RichEmbed``). All messages here are synthetic.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.emulators._strict_helpers import Api, api_fixture, assert_error, assert_form_error  # noqa: F401
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.payloads import stored_components
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, MEMBER_ID

# These tests send requests Discord refuses, on purpose (the emulator must refuse them too).
pytestmark = pytest.mark.discord_invalid_requests


def button(custom_id: str | None = "b0", label: str = "Mute", **extra: Any) -> dict[str, Any]:
    """Return a synthetic secondary button."""
    data: dict[str, Any] = {"type": 2, "style": 2, "label": label, **extra}
    if custom_id is not None:
        data["custom_id"] = custom_id
    return data


def row(*children: dict[str, Any]) -> dict[str, Any]:
    """Return an action row."""
    return {"type": 1, "components": list(children)}


def buttons(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Return ``n`` buttons with distinct custom_ids."""
    return [button(f"b{start + i}") for i in range(n)]


async def sent(api: Api, body: dict[str, Any]) -> str:
    """Send a valid message and return its id."""
    status, data = await api.send(body)
    assert status == 200, data
    return str(data["id"])


# -- components (COMP L81, L94, L115, L175, L177, L301) ---------------------------------------------


@pytest.mark.parametrize(
    ("components", "path", "code"),
    [
        ([row(button(""))], "components.0.components.0.custom_id", "BASE_TYPE_BAD_LENGTH"),
        ([row(button("x" * 101))], "components.0.components.0.custom_id", "BASE_TYPE_BAD_LENGTH"),
        (
            [row(button("a"), button("a"))],
            "components.0.components.1.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            [row(button("a")), row(button("a"))],
            "components.1.components.0.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        ([row(*buttons(6))], "components.0.components", "BASE_TYPE_MAX_LENGTH"),
        ([row(b) for b in buttons(6)], "components", "BASE_TYPE_MAX_LENGTH"),
        ([row(button(label="L" * 81))], "components.0.components.0.label", "BASE_TYPE_MAX_LENGTH"),
        (
            [
                row(
                    {
                        "type": 3,
                        "custom_id": "s",
                        "options": [{"label": f"o{i}", "value": str(i)} for i in range(26)],
                    }
                )
            ],
            "components.0.components.0.options",
            "BASE_TYPE_MAX_LENGTH",
        ),
    ],
)
async def test_component_limits_on_create_and_edit(
    api: Api, discord_emu: DiscordEmulator, components: list[dict[str, Any]], path: str, code: str
) -> None:
    status, data = await api.send({"content": "x", "components": components})
    assert_form_error(status, data, path, code)
    message_id = await sent(api, {"content": "kept", "components": [row(button("keep"))]})
    status, data = await api.edit(message_id, {"components": components})
    assert_form_error(status, data, path, code)
    # A refused edit changes nothing.
    stored = discord_emu.message(int(message_id))
    assert stored.content == "kept" and stored.components == stored_components([row(button("keep"))])
    assert not stored.history


async def test_components_at_the_limits_pass(api: Api) -> None:
    options = [{"label": f"o{i}", "value": str(i)} for i in range(25)]
    select = {"type": 3, "custom_id": "s" * 100, "options": options}
    link = {"type": 2, "style": 5, "label": "L" * 80, "url": "https://example.com"}
    components = [row(*buttons(5, start=5 * r)) for r in range(3)] + [row(select), row(link)]
    message_id = await sent(api, {"components": components})
    status, data = await api.edit(message_id, {"components": [row(*buttons(5))]})
    assert status == 200, data


async def test_component_rules_apply_to_dms(api: Api) -> None:
    status, channel = await api.call("POST", "/users/@me/channels", {"recipient_id": str(MEMBER_ID)})
    assert status == 200
    status, data = await api.send({"components": [row(*buttons(6))]}, int(channel["id"]))
    assert_form_error(status, data, "components.0.components", "BASE_TYPE_MAX_LENGTH")


# -- allowed_mentions (MSG L783, L809) --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["users", "roles"])
async def test_allowed_mentions_parse_and_list_together_are_refused(api: Api, kind: str) -> None:
    body = {"content": "hi", "allowed_mentions": {"parse": [kind], kind: ["1190000000000002002"]}}
    status, data = await api.send(body)
    assert_form_error(status, data, "allowed_mentions", "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE")
    # MSG L783: an empty list together with parse is not an error; neither is the list alone.
    await sent(api, {"content": "hi", "allowed_mentions": {"parse": [kind], kind: []}})
    await sent(api, {"content": "hi", "allowed_mentions": {"parse": [], kind: ["1190000000000002002"]}})


# -- nonce (MSG L1081) ------------------------------------------------------------------------------


@pytest.mark.parametrize("nonce", ["n" * 26, 10**25])
async def test_nonce_over_25_characters_is_refused(api: Api, nonce: str | int) -> None:
    status, data = await api.send({"content": "x", "nonce": nonce})
    assert_form_error(status, data, "nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    await sent(api, {"content": "x", "nonce": "n" * 25})


# -- embeds (MSG L607; spec RichEmbed url/color/timestamp) ------------------------------------------


@pytest.mark.parametrize(
    ("embed", "path", "code"),
    [
        ({"fields": [{"name": "  ", "value": "v"}]}, "embeds.0.fields.0.name", "BASE_TYPE_REQUIRED"),
        ({"fields": [{"name": "n", "value": " \n\t"}]}, "embeds.0.fields.0.value", "BASE_TYPE_REQUIRED"),
        ({"title": "t", "url": "example.com/chart"}, "embeds.0.url", "URL_TYPE_INVALID_URL"),
        ({"title": "t", "url": "not a url"}, "embeds.0.url", "URL_TYPE_INVALID_URL"),
        ({"title": "t", "image": {"url": "chart.png"}}, "embeds.0.image.url", "URL_TYPE_INVALID_URL"),
        ({"title": "t", "color": 0x1000000}, "embeds.0.color", "NUMBER_TYPE_MAX"),
        ({"title": "t", "color": -1}, "embeds.0.color", "NUMBER_TYPE_MIN"),
        ({"title": "t", "timestamp": "yesterday"}, "embeds.0.timestamp", "DATE_TIME_TYPE_PARSE"),
    ],
)
async def test_embed_fields_and_formats_are_checked(
    api: Api, embed: dict[str, Any], path: str, code: str
) -> None:
    status, data = await api.send({"embeds": [embed]})
    assert_form_error(status, data, path, code)
    message_id = await sent(api, {"content": "x"})
    status, data = await api.edit(message_id, {"embeds": [{"title": "ok"}, embed]})
    assert_form_error(status, data, path.replace("embeds.0", "embeds.1"), code)


async def test_valid_embed_formats_pass(api: Api) -> None:
    embed = {
        "title": " padded title ",
        "url": "https://example.com/chart?x=1",
        "color": 0xFFFFFF,
        "timestamp": "2026-12-05T10:00:00.000Z",
        "image": {"url": "attachment://chart.png"},
        "fields": [{"name": " n ", "value": " v "}],
    }
    await sent(api, {"embeds": [embed, {"title": "t", "color": 0, "timestamp": "2026-12-05T10:00:00+00:00"}]})


@pytest.mark.discord_invalid_requests(
    accepted="message.mdx L607 counts trimmed text; the OpenAPI maxLength counts the padding too"
)
async def test_embed_limits_count_trimmed_text(api: Api) -> None:
    # MSG L607: leading/trailing whitespace is not counted, so 256 characters plus padding pass.
    await sent(api, {"embeds": [{"title": "  " + "t" * 256 + "  "}]})


# -- IS_COMPONENTS_V2 (MSG L1098) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"), [("content", "hello"), ("embeds", [{"title": "t"}]), ("sticker_ids", ["1"])]
)
async def test_components_v2_with_legacy_fields_is_refused(api: Api, key: str, value: Any) -> None:
    text = {"type": 10, "content": "Alert"}
    status, data = await api.send({"flags": 1 << 15, "components": [text], key: value})
    assert_form_error(status, data, key, "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2")
    message_id = await sent(api, {"flags": 1 << 15, "components": [text]})
    status, data = await api.edit(message_id, {key: value})
    assert_form_error(status, data, key, "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2")


async def test_components_v2_custom_ids_are_checked_inside_containers(api: Api) -> None:
    section = {"type": 9, "components": [{"type": 10, "content": "a"}], "accessory": button("dup")}
    container = {"type": 17, "components": [section, row(button("dup"))]}
    status, data = await api.send({"flags": 1 << 15, "components": [container]})
    assert_form_error(
        status, data, "components.0.components.1.components.0.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED"
    )


# -- replies (MSG L1071, L333) ----------------------------------------------------------------------


async def test_reply_to_a_missing_message_is_refused(api: Api, discord_emu: DiscordEmulator) -> None:
    status, data = await api.send(
        {"content": "re", "message_reference": {"message_id": "1190000000000009999"}}
    )
    assert_form_error(status, data, "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE")
    target = await sent(api, {"content": "first"})
    await api.call("DELETE", f"/channels/{ALERTS_CHANNEL_ID}/messages/{target}")
    status, data = await api.send({"content": "re", "message_reference": {"message_id": target}})
    assert_form_error(status, data, "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE")
    # fail_if_not_exists=false sends a normal message instead.
    reference = {"message_id": target, "fail_if_not_exists": False}
    status, data = await api.send({"content": "plain", "message_reference": reference})
    assert status == 200 and "message_reference" not in data, data


async def test_reply_to_an_existing_message_passes(api: Api) -> None:
    target = await sent(api, {"content": "first"})
    status, data = await api.send({"content": "re", "message_reference": {"message_id": target}})
    assert status == 200 and data["message_reference"]["message_id"] == target


# -- stickers and files (MSG L1087; spec files[0..9], attachments maxItems 10; reference.mdx L430) ---


async def test_more_than_3_stickers_are_refused(api: Api) -> None:
    status, data = await api.send({"sticker_ids": ["1", "2", "3", "4"]})
    assert_form_error(status, data, "sticker_ids", "BASE_TYPE_MAX_LENGTH", "Must be 3 or fewer in length.")


def upload(count: int, size: int = 10, *, describe: bool = True) -> aiohttp.FormData:
    """Return a multipart body with ``count`` synthetic files of ``size`` bytes."""
    form = aiohttp.FormData()
    payload: dict[str, Any] = {"content": "files"}
    if describe:
        payload["attachments"] = [{"id": i, "filename": f"f{i}.txt"} for i in range(count)]
    form.add_field("payload_json", json.dumps(payload), content_type="application/json")
    for i in range(count):
        form.add_field(f"files[{i}]", b"x" * size, filename=f"f{i}.txt", content_type="text/plain")
    return form


@pytest.mark.parametrize(("describe", "path"), [(True, "attachments"), (False, "files")])
async def test_more_than_10_files_are_refused(api: Api, describe: bool, path: str) -> None:
    url = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    status, data = await api.call("POST", url, data=upload(11, describe=describe))
    assert_form_error(status, data, path, "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    status, data = await api.call("POST", url, data=upload(10, describe=describe))
    assert status == 200 and len(data["attachments"]) == 10, data


async def test_upload_limit_is_per_file_and_the_request_has_its_own(
    api: Api, discord_emu: DiscordEmulator
) -> None:
    discord_emu.config.attachment_size_limit = 1000
    discord_emu.config.message_request_size_limit = 2500
    url = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    status, data = await api.call("POST", url, data=upload(1, 1001))
    assert_error(status, data, 413, 40005)
    # Two files of 800 bytes: each under the per-file limit, together over it (reference.mdx L430).
    status, data = await api.call("POST", url, data=upload(2, 800))
    assert status == 200, data
    # Four of 800 exceed the request limit (message.mdx L1072, 25 MiB on Discord).
    status, data = await api.call("POST", url, data=upload(4, 800))
    assert_error(status, data, 413, 40005)


# -- editing to nothing (MSG "Edit Message"; 50006) -------------------------------------------------


async def test_edit_that_leaves_nothing_is_an_empty_message(api: Api, discord_emu: DiscordEmulator) -> None:
    message_id = await sent(api, {"content": "only text"})
    status, data = await api.edit(message_id, {"content": ""})
    assert_error(status, data, 400, 50006, "Cannot send an empty message")
    assert discord_emu.message(int(message_id)).content == "only text"
    status, data = await api.edit(message_id, {"content": None, "embeds": [{"title": "now an embed"}]})
    assert status == 200 and data["content"] == "" and data["embeds"][0]["title"] == "now an embed"
    status, data = await api.edit(message_id, {"embeds": []})
    assert_error(status, data, 400, 50006)
    status, data = await api.edit(message_id, {"embeds": [], "components": [row(button())]})
    assert status == 200, data
