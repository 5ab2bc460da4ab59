"""The emulator refuses interaction responses the way Discord's documents say Discord does.

Sources: discord-api-docs c98d64bc ``developers/interactions/receiving-and-responding.mdx`` ("RR"),
``developers/interactions/application-commands.mdx`` (choice structure) and
``developers/components/reference.mdx`` (text input). Interactions here are synthetic records registered
directly in the emulator's world (no bot), answered over its REST API.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulators._strict_helpers import Api, api_fixture, assert_error, assert_form_error  # noqa: F401
from tests.emulators.discord_api import DiscordEmulator

# These tests send requests Discord refuses, on purpose (the emulator must refuse them too).
pytestmark = pytest.mark.discord_invalid_requests

CHANNEL_MESSAGE = 4
DEFERRED = 5
AUTOCOMPLETE_RESULT = 8
MODAL = 9
AUTOCOMPLETE = 4


# -- autocomplete results (RR "Autocomplete"; AC choice structure L122/L124) ------------------------


@pytest.mark.parametrize(
    ("choices", "path", "code"),
    [
        ([{"name": f"c{i}", "value": str(i)} for i in range(26)], "data.choices", "BASE_TYPE_MAX_LENGTH"),
        ([{"name": "", "value": "a"}], "data.choices.0.name", "BASE_TYPE_BAD_LENGTH"),
        (
            [{"name": "ok", "value": "a"}, {"name": "n" * 101, "value": "a"}],
            "data.choices.1.name",
            "BASE_TYPE_BAD_LENGTH",
        ),
        ([{"name": "ok", "value": "v" * 101}], "data.choices.0.value", "BASE_TYPE_MAX_LENGTH"),
    ],
)
async def test_autocomplete_result_limits(
    api: Api, choices: list[dict[str, Any]], path: str, code: str
) -> None:
    record = api.interaction(AUTOCOMPLETE)
    status, data = await api.callback(record, AUTOCOMPLETE_RESULT, {"choices": choices})
    assert_form_error(status, data, path, code)
    assert record.callback is None and record.choices is None


@pytest.mark.discord_invalid_requests(
    accepted="string and number choices mixed in one list: no branch of the OpenAPI union (one type per "
    "list) fits, the emulator accepts it; left to the validation rules"
)
async def test_autocomplete_result_at_the_limits_passes(api: Api) -> None:
    record = api.interaction(AUTOCOMPLETE)
    choices = [{"name": "n" * 100, "value": "v" * 100} for _ in range(24)] + [{"name": "num", "value": 1e300}]
    status, data = await api.callback(record, AUTOCOMPLETE_RESULT, {"choices": choices})
    assert status == 204 and record.choices == choices, data


# -- deferred responses (RR L304) -------------------------------------------------------------------


@pytest.mark.parametrize("flags", [1 << 12, (1 << 6) | (1 << 12), 1 << 15, 1 << 2])
async def test_deferred_response_may_only_set_ephemeral(api: Api, flags: int) -> None:
    record = api.interaction()
    status, data = await api.callback(record, DEFERRED, {"flags": flags})
    assert_form_error(status, data, "data.flags", "INTERACTION_RESPONSE_FLAGS_INVALID")
    assert record.callback is None and record.original_message_id is None


@pytest.mark.parametrize("flags", [0, 1 << 6])
async def test_deferred_response_with_ephemeral_or_nothing_passes(
    api: Api, discord_emu: DiscordEmulator, flags: int
) -> None:
    record = api.interaction()
    status, data = await api.callback(record, DEFERRED, {"flags": flags})
    assert status == 204, data
    assert discord_emu.message(record.original_message_id or 0).ephemeral == bool(flags)


# -- modals (RR L320-322; COMP "Text Input Structure", "Label") -------------------------------------


def text_input(**extra: Any) -> dict[str, Any]:
    """Return a synthetic short text input."""
    return {"type": 4, "custom_id": "reason", "style": 1, **extra}


def modal(**extra: Any) -> dict[str, Any]:
    """Return a synthetic valid modal with one labelled text input."""
    body: dict[str, Any] = {
        "custom_id": "mute",
        "title": "Mute an alert",
        "components": [{"type": 18, "label": "Reason", "component": text_input()}],
    }
    body.update(extra)
    return body


@pytest.mark.parametrize(
    ("data", "path", "code"),
    [
        (modal(custom_id=""), "data.custom_id", "BASE_TYPE_BAD_LENGTH"),
        (modal(custom_id="m" * 101), "data.custom_id", "BASE_TYPE_BAD_LENGTH"),
        (modal(title="t" * 46), "data.title", "BASE_TYPE_BAD_LENGTH"),
        (modal(components=[]), "data.components", "BASE_TYPE_BAD_LENGTH"),
        (
            modal(
                components=[
                    {"type": 18, "label": f"L{i}", "component": text_input(custom_id=f"r{i}")}
                    for i in range(6)
                ]
            ),
            "data.components",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            modal(components=[{"type": 18, "label": "L" * 46, "component": text_input()}]),
            "data.components.0.label",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            modal(components=[{"type": 18, "label": "R", "component": text_input(custom_id="c" * 101)}]),
            "data.components.0.component.custom_id",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            modal(components=[{"type": 18, "label": "R", "component": text_input(max_length=4001)}]),
            "data.components.0.component.max_length",
            "NUMBER_TYPE_MAX",
        ),
        (
            modal(components=[{"type": 18, "label": "R", "component": text_input(min_length=-1)}]),
            "data.components.0.component.min_length",
            "NUMBER_TYPE_MIN",
        ),
        (
            modal(components=[{"type": 18, "label": "R", "component": text_input(placeholder="p" * 101)}]),
            "data.components.0.component.placeholder",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            modal(components=[{"type": 1, "components": [text_input(value="v" * 4001)]}]),
            "data.components.0.components.0.value",
            "BASE_TYPE_MAX_LENGTH",
        ),
    ],
)
async def test_modal_limits(api: Api, data: dict[str, Any], path: str, code: str) -> None:
    record = api.interaction()
    status, body = await api.callback(record, MODAL, data)
    assert_form_error(status, body, path, code)
    assert record.modal is None


async def test_modal_at_the_limits_passes(api: Api) -> None:
    record = api.interaction()
    inputs = [
        {
            "type": 18,
            "label": "L" * 45,
            "component": text_input(custom_id=f"{i}".ljust(100, "c"), max_length=4000),
        }
        for i in range(5)
    ]
    data = modal(custom_id="m" * 100, title="t" * 45, components=inputs)
    status, body = await api.callback(record, MODAL, data)
    assert status == 204 and record.modal == data, body


# -- message rules apply to interaction messages ----------------------------------------------------


async def test_interaction_messages_follow_the_message_rules(api: Api, discord_emu: DiscordEmulator) -> None:
    record = api.interaction()
    too_wide = {
        "content": "x",
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 2, "label": "b", "custom_id": f"b{i}"} for i in range(6)],
            }
        ],
    }
    status, data = await api.callback(record, CHANNEL_MESSAGE, too_wide)
    assert_form_error(status, data, "data.components.0.components", "BASE_TYPE_MAX_LENGTH")
    assert record.callback is None
    status, data = await api.callback(record, CHANNEL_MESSAGE, {"content": "answer"})
    assert status == 204, data
    hook = api.webhook_path(record)
    status, data = await api.call("POST", hook + "?wait=true", {"content": "f", "nonce": "n" * 26})
    assert_form_error(status, data, "nonce", "BASE_TYPE_MAX_LENGTH")
    status, data = await api.call("PATCH", hook + "/messages/@original", {"content": ""})
    assert_error(status, data, 400, 50006)
    assert discord_emu.message(record.original_message_id or 0).content == "answer"
