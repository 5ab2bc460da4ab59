"""Refuse interaction callback data the way Discord does (autocomplete results, deferrals, modals).

Source: discord-api-docs c98d64bc ``developers/interactions/receiving-and-responding.mdx`` ("RR") and
``developers/components/reference.mdx`` ("COMP"). Errors are 400 50035 with the `errors` tree under
``data``; the per-field codes are an assumption where noted (the documents do not give them).
"""

from __future__ import annotations

from typing import Any

from .command_rules import validate_choice
from .errors import invalid_form
from .message_rules import walk_components

EPHEMERAL = 1 << 6
TEXT_INPUT = 4


def _too_long(path: str, limit: int) -> Exception:
    return invalid_form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _bad_length(path: str, low: int, high: int) -> Exception:
    return invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def validate_autocomplete(data: dict[str, Any]) -> list[dict[str, Any]]:
    """RR "Autocomplete": at most 25 choices, each a choice (name 1-100, string value up to 100)."""
    choices = list(data.get("choices") or [])
    if len(choices) > 25:
        raise _too_long("data.choices", 25)
    for k, choice in enumerate(choices):
        validate_choice(choice, f"data.choices.{k}")
    return choices


def validate_deferred_flags(data: dict[str, Any]) -> int:
    """RR L304: a DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE may only set EPHEMERAL; return the flags.

    The document calls EPHEMERAL "the only valid message flag" here, so any other bit is refused
    (400 50035 at ``data.flags``; the field code is an assumption). Note: the pull request that added
    this sentence (discord-api-docs #7386) observed live Discord filtering the other bits out instead;
    refusing is stricter, and a bot that sends only EPHEMERAL behaves the same under both.
    """
    flags = int(data.get("flags") or 0)
    if flags & ~EPHEMERAL:
        raise invalid_form(
            "data.flags",
            "INTERACTION_RESPONSE_FLAGS_INVALID",
            "Only the EPHEMERAL flag can be set on a deferred response",
        )
    return flags


def validate_modal(data: dict[str, Any]) -> None:
    """RR "Modal" (L320-322): custom_id 1-100, title 1-45, 1-5 components; COMP text input limits."""
    if not 1 <= len(str(data.get("custom_id") or "")) <= 100:
        raise _bad_length("data.custom_id", 1, 100)
    if not 1 <= len(str(data.get("title") or "")) <= 45:
        raise _bad_length("data.title", 1, 45)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise _bad_length("data.components", 1, 5)
    for comp, path in walk_components(components, "data.components"):
        if comp.get("type") == TEXT_INPUT:
            _validate_text_input(comp, path)
        elif "label" in comp and comp.get("type") == 18 and len(str(comp.get("label") or "")) > 45:
            # COMP "Label": label max 45 characters.
            raise _too_long(f"{path}.label", 45)


def _validate_text_input(comp: dict[str, Any], path: str) -> None:
    """COMP "Text Input Structure": custom_id 1-100, min 0..4000, max 1..4000, value 4000, placeholder 100."""
    if not 1 <= len(str(comp.get("custom_id") or "")) <= 100:
        raise _bad_length(f"{path}.custom_id", 1, 100)
    for key, low in (("min_length", 0), ("max_length", 1)):
        value = comp.get(key)
        if value is None:
            continue
        if int(value) < low:
            raise invalid_form(
                f"{path}.{key}", "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}."
            )
        if int(value) > 4000:
            raise invalid_form(
                f"{path}.{key}", "NUMBER_TYPE_MAX", "int value should be less than or equal to 4000."
            )
    if len(str(comp.get("value") or "")) > 4000:
        raise _too_long(f"{path}.value", 4000)
    if len(str(comp.get("placeholder") or "")) > 100:
        raise _too_long(f"{path}.placeholder", 100)
    # Assumption: the deprecated text input `label` (in an action row) keeps the Label component's 45.
    if len(str(comp.get("label") or "")) > 45:
        raise _too_long(f"{path}.label", 45)
