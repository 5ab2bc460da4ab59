"""Refuse application commands the way Discord does: 400 50035 with the `errors` tree at the field.

Every rule cites discord-api-docs (commit c98d64bc) ``developers/interactions/application-commands.mdx``
("AC" below) unless it says otherwise. The documents give the status and code 50035 and the shape of the
`errors` tree (``developers/reference.mdx`` "Error Messages"), but not the per-field error codes; the
field codes below (``BASE_TYPE_MAX_LENGTH`` etc.) are those Discord is known to send and an assumption
where noted. Tests check the status, the code 50035 and the path of the error.

Paths: a bulk overwrite (PUT) reports under the command's index (``0.options.1.name``); a single create
(POST) reports from the root (``options.1.name``). Assumption for APPLICATION_COMMAND_TOO_LARGE in a bulk
body: ``developers/reference.mdx`` only shows it at the root of a single command
(``{"errors": {"_errors": [...]}}``), so in a bulk body it sits under the command's index
(``{"errors": {"3": {"_errors": [...]}}}``), the way every other per-command error is placed.
"""

from __future__ import annotations

from typing import Any

import regex

from .command_size import MAX_COMMAND_SIZE, command_size
from .errors import ApiError, invalid_form

# Command types (AC "Application Command Types").
CHAT_INPUT = 1
# Option types (AC "Application Command Option Type").
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
_CHOICE_TYPES = {3, 4, 10}

# AC L18 "Application Command Naming": CHAT_INPUT command names and option names must match this regex
# (unicode), and use the lowercase variant of any letter that has one. USER and MESSAGE commands may be
# mixed case and contain spaces (1-32 characters, AC command object `name`).
_CHAT_INPUT_NAME = regex.compile(r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")

# AC L169-174: 100 global CHAT_INPUT commands, and the same number per guild.
MAX_CHAT_INPUT_COMMANDS = 100
# AC L81-82: min_length 0..6000, max_length 1..6000.
MAX_OPTION_LENGTH = 6000


def _at(prefix: str, path: str) -> str:
    return f"{prefix}{path}" if path else prefix.rstrip(".")


def _bad_length(path: str, low: int, high: int) -> ApiError:
    return invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _too_long(path: str, limit: int) -> ApiError:
    return invalid_form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _check_name(name: str, path: str, *, chat_input: bool) -> None:
    if chat_input:
        valid = bool(_CHAT_INPUT_NAME.match(name)) and name == name.lower()
    else:
        valid = 1 <= len(name) <= 32
    if not valid:
        raise invalid_form(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def check_command_count(commands: list[dict[str, Any]]) -> None:
    """Refuse more than 100 CHAT_INPUT commands in one scope (AC L169-174) with 400 30032.

    Assumption: the documents list code 30032 "Maximum number of application commands reached"
    (``developers/topics/opcodes-and-status-codes.mdx``) without its HTTP status; Discord's other
    30xxx "maximum reached" errors are 400.
    """
    if sum(1 for c in commands if int(c.get("type") or CHAT_INPUT) == CHAT_INPUT) > MAX_CHAT_INPUT_COMMANDS:
        raise ApiError(400, 30032, "Maximum number of application commands reached (100)")


def validate_command(cmd: Any, prefix: str = "", *, check_size: bool = True) -> dict[str, Any]:
    """Check one command payload; errors are placed under ``prefix`` ("" for a single create)."""
    if not isinstance(cmd, dict):
        raise invalid_form(
            _at(prefix, ""), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        )
    ctype = int(cmd.get("type") or CHAT_INPUT)
    chat_input = ctype == CHAT_INPUT
    _check_name(str(cmd.get("name") or ""), f"{prefix}name", chat_input=chat_input)
    # AC command object: CHAT_INPUT description is 1-100 characters (empty for USER/MESSAGE).
    if chat_input and not 1 <= len(str(cmd.get("description") or "")) <= 100:
        raise _bad_length(f"{prefix}description", 1, 100)
    _validate_options(cmd.get("options") or [], f"{prefix}options", depth=0)
    # AC "Application Command Size" (L450): 8,000 characters; error text from developers/reference.mdx.
    if check_size and chat_input and command_size(cmd) > MAX_COMMAND_SIZE:
        raise invalid_form(
            _at(prefix, ""),
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({MAX_COMMAND_SIZE})",
        )
    return cmd


def validate_commands(commands: Any, *, check_size: bool = True) -> list[dict[str, Any]]:
    """Check a bulk-overwrite body the way Discord does (400 50035 becomes CommandSyncFailure)."""
    if not isinstance(commands, list):
        raise invalid_form("_root", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        validate_command(cmd, f"{i}.", check_size=check_size)
        key = (str(cmd.get("name")), int(cmd.get("type") or CHAT_INPUT))
        # AC L160-167: names are unique per application, per type, within a scope.
        if key in seen:
            raise invalid_form(
                f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(key)
    check_command_count(commands)
    return commands


def _validate_options(options: Any, path: str, *, depth: int) -> None:
    if not isinstance(options, list):
        raise invalid_form(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    # AC option `options`/`choices`: up to 25 per level (options, subcommands and groups alike).
    if len(options) > 25:
        raise _too_long(path, 25)
    kinds = {int(o.get("type") or 0) in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options}
    if len(kinds) > 1:
        # AC L558-561: a command with subcommands or groups cannot take value options itself.
        # Assumption: the field code (the documents do not give it).
        raise invalid_form(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )
    names: set[str] = set()
    required_done = False
    for j, opt in enumerate(options):
        here = f"{path}.{j}"
        otype = int(opt.get("type") or 0)
        name = str(opt.get("name") or "")
        _check_name(name, f"{here}.name", chat_input=True)
        # AC L86: option names are unique within one array of options. Assumption: the field code.
        if name in names:
            raise invalid_form(
                f"{here}.name", "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME", "Option names must be unique"
            )
        names.add(name)
        # AC option `description`: 1-100 characters.
        if not 1 <= len(str(opt.get("description") or "")) <= 100:
            raise _bad_length(f"{here}.description", 1, 100)
        if otype in (SUB_COMMAND, SUB_COMMAND_GROUP):
            # AC L561: groups hold subcommands, subcommands hold value options; nothing deeper.
            if depth >= 2 or (depth == 1 and otype == SUB_COMMAND_GROUP):
                raise invalid_form(
                    f"{here}.type",
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups may only be nested one level deep",
                )
            children = opt.get("options") or []
            if otype == SUB_COMMAND_GROUP and any(int(c.get("type") or 0) != SUB_COMMAND for c in children):
                raise invalid_form(
                    f"{here}.options",
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups may only contain sub-commands",
                )
            _validate_options(children, f"{here}.options", depth=depth + 1)
            continue
        _validate_value_option(opt, here, otype)
        # Discord rejects required options after optional ones.
        if opt.get("required") and required_done:
            raise invalid_form(
                f"{here}.required",
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        if not opt.get("required"):
            required_done = True


def _validate_value_option(opt: dict[str, Any], here: str, otype: int) -> None:
    choices = opt.get("choices") or []
    if len(choices) > 25:
        raise _too_long(f"{here}.choices", 25)
    # AC L88: `autocomplete` may not be true when `choices` are present. Assumption: the field code.
    if opt.get("autocomplete") and choices:
        raise invalid_form(
            f"{here}.autocomplete",
            "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES",
            "Autocomplete cannot be set when choices are present",
        )
    for k, choice in enumerate(choices):
        validate_choice(choice, f"{here}.choices.{k}", string_option=otype == STRING)
    # AC L81-82: min_length 0..6000, max_length 1..6000 (STRING options).
    for key, low in (("min_length", 0), ("max_length", 1)):
        value = opt.get(key)
        if value is None:
            continue
        if int(value) < low:
            raise invalid_form(
                f"{here}.{key}", "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}."
            )
        if int(value) > MAX_OPTION_LENGTH:
            raise invalid_form(
                f"{here}.{key}",
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {MAX_OPTION_LENGTH}.",
            )


def validate_choice(choice: Any, path: str, *, string_option: bool | None = None) -> None:
    """Check one choice: name 1-100 characters, a string value up to 100 (AC L122/L124)."""
    if not isinstance(choice, dict):
        raise invalid_form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    if not 1 <= len(str(choice.get("name") or "")) <= 100:
        raise _bad_length(f"{path}.name", 1, 100)
    value = choice.get("value")
    if (string_option or string_option is None) and isinstance(value, str) and len(value) > 100:
        raise _too_long(f"{path}.value", 100)


class CommandCreateQuota:
    """Count command creates per guild over a sliding window (AC L177: 200 creates per day, per guild).

    AC L1269: commands that do not already exist count towards the daily limit; overwriting an existing
    name does not. Assumption: the documents give code 30034 "Maximum number of daily application command
    creates has been reached (200)" without a status; 400 like the other 30xxx errors. Global commands are
    not limited here, as the documents state the limit per guild only.
    """

    def __init__(self) -> None:
        self._creates: dict[int, list[float]] = {}

    def take(self, guild_id: int | None, count: int, *, limit: int | None, window: float, now: float) -> None:
        """Record ``count`` creates in a guild, or raise 400 30034 (recording none) when over ``limit``."""
        if guild_id is None or limit is None or count <= 0:
            return
        recent = [t for t in self._creates.get(guild_id, []) if now - t < window]
        if len(recent) + count > limit:
            self._creates[guild_id] = recent
            raise ApiError(
                400, 30034, f"Maximum number of daily application command creates has been reached ({limit})"
            )
        self._creates[guild_id] = recent + [now] * count
