"""Refuse message bodies the way Discord does (create and edit, channels, DMs and interaction messages).

Sources (discord-api-docs c98d64bc): ``developers/resources/message.mdx`` ("MSG"),
``developers/components/reference.mdx`` ("COMP"), and the OpenAPI file of discord-api-spec 74fda0fa
(``specs/openapi.json``, schema ``RichEmbed``). The documents give status 400 and code 50035 with an
`errors` tree (``developers/reference.mdx``) but rarely the per-field code; field codes below are those
Discord is known to send, an assumption where noted. Tests check status, code and path.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError, invalid_form

IS_COMPONENTS_V2 = 1 << 15
ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3

# MSG L1087: up to 3 stickers. Spec: `files[0..9]`, `attachments` maxItems 10.
MAX_STICKERS = 3
MAX_FILES = 10
# MSG L1081: nonce up to 25 characters.
MAX_NONCE = 25


def _too_long(path: str, limit: int) -> ApiError:
    return invalid_form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _bad_length(path: str, low: int, high: int) -> ApiError:
    return invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def validate_message_fields(body: dict[str, Any], *, flags: int) -> None:
    """Check the fields of a create or edit body that do not need the world (``flags``: resulting flags)."""
    nonce = body.get("nonce")
    if nonce is not None and len(str(nonce)) > MAX_NONCE:
        raise _too_long("nonce", MAX_NONCE)
    if len(body.get("sticker_ids") or []) > MAX_STICKERS:
        raise _too_long("sticker_ids", MAX_STICKERS)
    if len(body.get("attachments") or []) > MAX_FILES:
        raise _too_long("attachments", MAX_FILES)
    _check_allowed_mentions(body.get("allowed_mentions"))
    if flags & IS_COMPONENTS_V2:
        _check_components_v2(body)
    if body.get("components") is not None:
        validate_components(list(body.get("components") or []), v2=bool(flags & IS_COMPONENTS_V2))


def _check_allowed_mentions(mentions: Any) -> None:
    """MSG L783/L809: `parse` with "users" (or "roles") and a non-empty `users` (`roles`) list is refused.

    MSG L783: an empty or null list does not trigger the error. Assumption: the field code.
    """
    if not isinstance(mentions, dict):
        return
    parse = mentions.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and mentions.get(kind):
            raise invalid_form(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def _check_components_v2(body: dict[str, Any]) -> None:
    """MSG L1098: with IS_COMPONENTS_V2 a message may only carry components (content etc. give 400).

    Assumption: the field code; a field sent empty (``""``, ``[]``, null) is not "provided".
    """
    for key in ("content", "embeds", "sticker_ids", "poll", "shared_client_theme"):
        if body.get(key):
            raise invalid_form(
                key,
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                f"The '{key}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )


def walk_components(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Yield every component dict under ``node`` with its error path (rows, containers, sections)."""
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk_components(child, f"{path}.{i}")
    elif isinstance(node, dict):
        yield node, path
        for key in ("components", "component", "accessory"):
            if key in node:
                yield from walk_components(node[key], f"{path}.{key}")


def validate_components(components: list[Any], *, v2: bool) -> None:
    """Check message components: row count, row width, select options, custom_id, button label."""
    # COMP L94/L115: up to 5 action rows in a message (without IS_COMPONENTS_V2), 5 buttons per row.
    if len(components) > 5 and not v2:
        raise _too_long("components", 5)
    seen: dict[str, str] = {}
    for comp, path in walk_components(components, "components"):
        ctype = comp.get("type")
        children = comp.get("components") or []
        if ctype == ACTION_ROW and sum(1 for c in children if c.get("type") == BUTTON) > 5:
            raise _too_long(f"{path}.components", 5)
        # COMP L301: a string select has at most 25 options.
        if ctype == STRING_SELECT and len(comp.get("options") or []) > 25:
            raise _too_long(f"{path}.options", 25)
        # COMP L175: a button label is at most 80 characters.
        if ctype == BUTTON and len(str(comp.get("label") or "")) > 80:
            raise _too_long(f"{path}.label", 80)
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        # COMP L81/L177: custom_id is 1-100 characters and unique among the message's components.
        if not 1 <= len(str(custom_id)) <= 100:
            raise _bad_length(f"{path}.custom_id", 1, 100)
        if str(custom_id) in seen:
            raise invalid_form(
                f"{path}.custom_id",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen[str(custom_id)] = path


def _is_uri(value: str) -> bool:
    """Return whether ``value`` is an absolute URI as Discord takes it for embeds.

    Spec `RichEmbed.url` has format "uri". Assumption: Discord accepts http(s) and attachment:// URLs
    with a host part ("example.com" alone is refused as "Not a well formed URL.").
    """
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https", "attachment") and bool(parts.netloc)


def validate_embed_formats(embed: dict[str, Any], path: str) -> None:
    """Check an embed's url, color and timestamp (spec `RichEmbed`: uri, 0..0xFFFFFF, date-time)."""
    urls = [("url", embed.get("url"))]
    for key, url_key in (("author", "url"), ("author", "icon_url"), ("footer", "icon_url")):
        sub = embed.get(key)
        if isinstance(sub, dict):
            urls.append((f"{key}.{url_key}", sub.get(url_key)))
    for key in ("image", "thumbnail"):
        sub = embed.get(key)
        if isinstance(sub, dict):
            urls.append((f"{key}.url", sub.get("url")))
    for key, url in urls:
        if url is not None and not _is_uri(str(url)):
            raise invalid_form(f"{path}.{key}", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    color = embed.get("color")
    if color is not None:
        if int(color) > 0xFFFFFF:
            raise invalid_form(
                f"{path}.color", "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215."
            )
        if int(color) < 0:
            raise invalid_form(
                f"{path}.color", "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0."
            )
    stamp = embed.get("timestamp")
    if stamp is not None:
        try:
            datetime.datetime.fromisoformat(str(stamp))
        except ValueError as exc:
            raise invalid_form(
                f"{path}.timestamp", "DATE_TIME_TYPE_PARSE", f"Could not parse {stamp}. Should be ISO8601."
            ) from exc


def has_message_content(payload: dict[str, Any]) -> bool:
    """Return whether a stored message still has something to show (else 50006 on edit)."""
    keys = ("content", "embeds", "components", "attachments", "sticker_items", "poll")
    return any(payload.get(key) for key in keys)
