"""Count an application command's size the way Discord does, against its 8,000-character limit.

Discord (discord-api-docs ``developers/interactions/application-commands.mdx``, "Application Command
Size"): "Slash commands can have a maximum of 8000 characters for combined name, description, and value
properties for each command, its options (including subcommands and groups), and choices. When
localization fields are present, only the longest localization for each field (including the default
value) is counted towards the size limit." A larger command is refused with 400 50035
``APPLICATION_COMMAND_TOO_LARGE`` "Command exceeds maximum size (8000)" (``developers/reference.mdx``).

Assumption (the documents do not say): a number choice value counts as the characters of its JSON form
(``95000`` is five), the same as a string value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_COMMAND_SIZE = 8000


def _field_size(item: Mapping[str, Any], field: str) -> int:
    """Return the length of ``field`` or of its longest localization, whichever is longer."""
    value = item.get(field)
    default = 0 if value is None else len(value if isinstance(value, str) else json.dumps(value))
    localized = item.get(f"{field}_localizations") or {}
    return max([default, *(len(str(text)) for text in localized.values())])


def _choice_size(choice: Mapping[str, Any]) -> int:
    return _field_size(choice, "name") + _field_size(choice, "value")


def _option_size(option: Mapping[str, Any]) -> int:
    size = _field_size(option, "name") + _field_size(option, "description")
    size += sum(_choice_size(choice) for choice in option.get("choices") or ())
    size += sum(_option_size(child) for child in option.get("options") or ())
    return size


def command_size(command: Mapping[str, Any]) -> int:
    """Return the characters Discord counts for one command payload (as sent to the API)."""
    size = _field_size(command, "name") + _field_size(command, "description")
    return size + sum(_option_size(option) for option in command.get("options") or ())
