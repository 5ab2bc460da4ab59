"""Turn a detector's pydantic ``Settings`` into typed slash-command options, and option values back into
settings, so ``/alert add <detector>`` exists for every detector (built-in or plugin) with no code per
detector.

Field types become option types (``bool``, ``int``, ``float``, ``str``), ``ge/gt/le/lt`` become
``app_commands.Range`` bounds, ``Literal``/``Enum`` become choices, ``Field(description=...)`` becomes the
option's description. What Discord cannot type (lists, "a number or off") is taken as text and parsed
here; pydantic validates the result either way, so the bounds Discord enforces are only a convenience.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from discord import app_commands
from discord.app_commands import Choice
from pydantic import BaseModel
from pydantic.fields import FieldInfo

# Discord: option names are 1-32 lower-case characters; descriptions 1-100 characters; at most 25
# options per command and 25 choices per option; numbers must lie within ±2^53.
OPTION_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
MAX_DESCRIPTION = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_NUMBER = 2**53
OFF_WORDS = ("off", "none", "no", "null", "-")


class UnsupportedSettings(ValueError):
    """A detector's Settings cannot be offered as slash-command options (the message says why)."""


@dataclass(frozen=True, slots=True)
class DetectorOption:
    """One detector setting as a slash-command option."""

    field: str
    name: str
    annotation: Any
    description: str
    required: bool
    choices: tuple[Choice[Any], ...] | None = None
    # "value": passed as given; "list": comma-separated text split into a list;
    # "nullable": text that is a value, or "off" for None (a field like ``float | None = 0.05``).
    parse: Literal["value", "list", "nullable"] = "value"


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Return ``text`` on one line, cut at a word boundary with an ellipsis to fit ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def _bounds(info: FieldInfo) -> tuple[float | None, float | None, bool, bool]:
    """Return (low, high, low_exclusive, high_exclusive) from the field's annotated_types metadata."""
    low: float | None = None
    high: float | None = None
    low_open = high_open = False
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge) and isinstance(item.ge, int | float):
            low, low_open = float(item.ge), False
        elif isinstance(item, annotated_types.Gt) and isinstance(item.gt, int | float):
            low, low_open = float(item.gt), True
        elif isinstance(item, annotated_types.Le) and isinstance(item.le, int | float):
            high, high_open = float(item.le), False
        elif isinstance(item, annotated_types.Lt) and isinstance(item.lt, int | float):
            high, high_open = float(item.lt), True
    return low, high, low_open, high_open


def _length(info: FieldInfo) -> tuple[int | None, int | None]:
    low: int | None = None
    high: int | None = None
    for item in info.metadata:
        if isinstance(item, annotated_types.MinLen):
            low = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            high = item.max_length
    return low, high


def _number_annotation(kind: type[int] | type[float], info: FieldInfo) -> Any:
    low, high, low_open, high_open = _bounds(info)
    if kind is int:
        # Discord's min_value/max_value are inclusive; an exclusive integer bound is the next integer.
        low_int = None if low is None else int(low) + (1 if low_open else 0)
        high_int = None if high is None else int(high) - (1 if high_open else 0)
        low_int = None if low_int is None else max(low_int, -MAX_NUMBER)
        high_int = None if high_int is None else min(high_int, MAX_NUMBER)
        if low_int is None and high_int is None:
            return int
        return app_commands.Range[int, low_int, high_int]
    # An exclusive float bound (gt=0) cannot be said to Discord; the inclusive one is offered and pydantic
    # answers the exact bound with a readable error.
    low_f = None if low is None else max(low, -float(MAX_NUMBER))
    high_f = None if high is None else min(high, float(MAX_NUMBER))
    if low_f is None and high_f is None:
        return float
    return app_commands.Range[float, low_f, high_f]


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
    return annotation, False


def _choices(values: Sequence[Any]) -> tuple[Choice[Any], ...] | None:
    if not values or len(values) > MAX_CHOICES:
        return None
    return tuple(Choice(name=str(v)[:100], value=v) for v in values)


def option_for(name: str, info: FieldInfo) -> DetectorOption:
    """Return the slash-command option for one Settings field."""
    option_name = name.lower()
    if not OPTION_NAME.match(option_name):
        raise UnsupportedSettings(f"setting {name!r} is not a valid Discord option name (a-z, 0-9, - and _)")
    inner, nullable = _unwrap_optional(info.annotation)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    description = info.description or name.replace("_", " ").capitalize()
    annotation: Any
    choices: tuple[Choice[Any], ...] | None = None
    parse: Literal["value", "list", "nullable"] = "value"
    origin = get_origin(inner)
    if nullable and default is not None:
        # `float | None = 0.05`: leaving the option out keeps 0.05, so "off" must be typeable.
        annotation = str
        parse = "nullable"
    elif origin is Literal:
        values = get_args(inner)
        if all(isinstance(v, str) for v in values):
            annotation, choices = str, _choices(values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            annotation, choices = int, _choices(values)
        else:
            annotation = str
    elif isinstance(inner, type) and issubclass(inner, enum.Enum):
        members = [member.value for member in inner]
        annotation = int if all(isinstance(v, int) for v in members) else str
        choices = _choices([v if annotation is int else str(v) for v in members])
    elif inner is bool:
        annotation = bool
    elif inner is int or inner is float:
        annotation = _number_annotation(inner, info)
    elif inner is str:
        low, high = _length(info)
        annotation = app_commands.Range[str, low, high] if low is not None or high is not None else str
    elif origin in (list, tuple, set, frozenset) or inner in (list, tuple, set, frozenset):
        annotation = str
        parse = "list"
    else:
        # Anything else (a date, a nested model) is typed as text and parsed by pydantic.
        annotation = str
    essential = {"list": ["comma-separated"], "nullable": ["'off' to disable"], "value": []}[parse]
    hint = [f"default {_show(default)}"] if default not in (None, [], ()) else []
    return DetectorOption(
        name, option_name, annotation, _describe(description, essential, hint), required, choices, parse
    )


def _describe(text: str, essential: list[str], optional: list[str]) -> str:
    """Return ``text (notes)`` within Discord's limit: optional notes go first, essential ones never."""
    base = " ".join(text.split()).rstrip(". ")
    for notes in (essential + optional, essential):
        suffix = f" ({'; '.join(notes)})" if notes else ""
        if len(base) + len(suffix) <= MAX_DESCRIPTION:
            return base + suffix
    return shorten(base, MAX_DESCRIPTION - len(suffix)) + suffix


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def detector_options(settings: type[BaseModel], reserved: Sequence[str] = ()) -> list[DetectorOption]:
    """Return the options of a Settings model, required ones first, refusing names in ``reserved``."""
    options = [option_for(name, info) for name, info in settings.model_fields.items()]
    clashes = [o.name for o in options if o.name in reserved]
    if clashes:
        raise UnsupportedSettings(f"settings {clashes} clash with the common alert options {list(reserved)}")
    if len(options) + len(reserved) > MAX_OPTIONS:
        raise UnsupportedSettings(
            f"{len(options)} settings plus {len(reserved)} common options exceed Discord's {MAX_OPTIONS}"
        )
    return sorted(options, key=lambda o: not o.required)


def settings_from_values(options: Sequence[DetectorOption], values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn option values (only those the user gave) into the dict the detector's Settings validate."""
    by_name = {o.name: o for o in options}
    settings: dict[str, Any] = {}
    for name, value in values.items():
        option = by_name.get(name)
        if option is None or value is None:
            continue
        if option.parse == "list":
            settings[option.field] = [part for part in re.split(r"[,\s]+", str(value)) if part]
        elif option.parse == "nullable":
            text = str(value).strip()
            settings[option.field] = None if text.lower() in OFF_WORDS else text
        else:
            settings[option.field] = value
    return settings
