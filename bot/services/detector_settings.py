"""Detector settings as members type them (``level=95000 direction=up``): read, described, completed.

The text is read into the dict a detector's ``Settings`` validates, described for the help page, and
completed as it is typed.

One option of text instead of one option per setting keeps ``/alert`` within Discord's 8,000 characters
per command whatever detectors are installed (built-in or plugin): no setting is part of the command tree.
What Discord's typed options used to say (bounds, allowed values, defaults) is said here instead, from the
same pydantic fields, and pydantic still validates the result. Nothing here imports discord.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import types
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from bot.errors import UserError
from bot.parsing import echo

# Words that turn off a setting that can be off (``high_pct: float | None = 0.05``).
OFF_WORDS = ("off", "none", "no", "null", "-")
# Discord: at most 25 autocomplete choices, each name and value at most 100 characters.
MAX_CHOICES = 25
MAX_CHOICE_CHARS = 100
# One suggestion that only says something (see ``hint``): no detector picked yet, or every completion past
# Discord's 100 characters a choice's value may have.
PICK_DETECTOR_HINT = "Pick a detector first: its settings are suggested here"
TOO_LONG_HINT = "Too long to suggest more: keep typing"
# pydantic's type errors as a member reads them (the setting's example follows).
_TYPE_WORDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    # allow_inf_nan=False (detectors.base): inf and nan are numbers pydantic refuses.
    "finite_number": "a finite number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "yes or no",
    "bool_type": "yes or no",
    "string_type": "text",
    "list_type": "a comma-separated list",
}
# pydantic's bound errors: the word before the bound, and the context key holding it.
_BOUND_WORDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_LIST_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One detector setting as a member reads and types it."""

    name: str
    kind: str  # "number", "whole number", "yes/no", "choice", "list" or "text"
    required: bool
    default: Any
    allowed: tuple[str, ...]  # the values that can be typed (choices, yes/no); empty: any
    values: tuple[Any, ...]  # the choices' own values (``allowed`` is how each is typed)
    bounds: str  # "greater than 0, at most 20"; empty: none
    description: str
    nullable: bool  # `off` turns it off
    example: str | None  # a value to show (the field's first `examples`, else a default or a bound)

    @property
    def type_text(self) -> str:
        """Return what the setting takes, e.g. ``number, greater than 0`` or ``one of up, down, either``."""
        if self.allowed and self.kind == "choice":
            text = "one of " + ", ".join(self.allowed)
        else:
            kind = "comma-separated list" if self.kind == "list" else self.kind
            text = kind + (f", {self.bounds}" if self.bounds else "")
        return text + (", or off" if self.nullable else "")

    @property
    def default_text(self) -> str | None:
        """Return the default as typed (``off`` for a setting off by default), or None when required."""
        if self.required:
            return None
        return "off" if self.default is None else show(self.default)


@dataclass(frozen=True, slots=True)
class Token:
    """One ``key=value`` word of a settings text, quotes removed, with where it starts in the text."""

    start: int
    text: str
    closed: bool  # False when a quote opened in it is never closed

    @property
    def key(self) -> str:
        """Return the setting name (lower case), or the whole word when it has no ``=``."""
        return self.text.partition("=")[0].strip().lower()

    @property
    def value(self) -> str | None:
        """Return the value after ``=``, or None when the word has no ``=``."""
        _, sep, value = self.text.partition("=")
        return value if sep else None


def show(value: Any) -> str:
    """Return a setting's value as a member would type it (``yes``, ``ETHUSDT,SOLUSDT``, ``95000``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, float) and math.isfinite(value):
        # Written out as typed, never Python's repr (20000000.0, 0.30000000000000004, 1e-09).
        return str(int(value)) if value.is_integer() else f"{value:.10f}".rstrip("0").rstrip(".")
    return str(value)


def shorten(text: str, limit: int) -> str:
    """Return ``text`` on one line, cut at a word boundary with an ellipsis to fit ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def _number(value: float) -> str:
    return show(float(value))


def _bounds(info: FieldInfo, unit: str = "") -> str:
    """Return the field's bounds in words (``greater than 0``, ``0 to 20``, ``1 to 20 items``)."""
    low: tuple[str, str] | None = None  # (how, value): how is "at least" or "greater than"
    high: tuple[str, str] | None = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Gt) and isinstance(item.gt, int | float):
            low = ("greater than", _number(item.gt))
        elif isinstance(item, annotated_types.Ge) and isinstance(item.ge, int | float):
            low = ("at least", _number(item.ge))
        elif isinstance(item, annotated_types.Lt) and isinstance(item.lt, int | float):
            high = ("less than", _number(item.lt))
        elif isinstance(item, annotated_types.Le) and isinstance(item.le, int | float):
            high = ("at most", _number(item.le))
        elif isinstance(item, annotated_types.MinLen) and item.min_length:
            low = ("at least", str(item.min_length))
        elif isinstance(item, annotated_types.MaxLen):
            high = ("at most", str(item.max_length))
    suffix = f" {unit}" if unit else ""
    if low is not None and high is not None and low[0] == "at least" and high[0] == "at most":
        return f"{low[1]} to {high[1]}{suffix}"
    return ", ".join(f"{how} {value}{suffix}" for how, value in filter(None, (low, high)))


def _low(info: FieldInfo) -> float | None:
    """Return a value just inside the field's lower bound, for an example of a required number."""
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge) and isinstance(item.ge, int | float):
            return float(item.ge)
        if isinstance(item, annotated_types.Gt) and isinstance(item.gt, int | float):
            return float(item.gt) + 1
    return None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
    return annotation, False


def spec_for(name: str, info: FieldInfo) -> SettingSpec:
    """Return how one Settings field is typed and described."""
    inner, nullable = _unwrap_optional(info.annotation)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    origin = get_origin(inner)
    values: tuple[Any, ...] = ()
    kind = "text"
    if origin is Literal:
        kind, values = "choice", get_args(inner)
    elif isinstance(inner, type) and issubclass(inner, enum.Enum):
        kind, values = "choice", tuple(member.value for member in inner)
    elif inner is bool:
        kind = "yes/no"
    elif inner is int:
        kind = "whole number"
    elif inner is float:
        kind = "number"
    elif origin in (list, tuple, set, frozenset) or inner in (list, tuple, set, frozenset):
        kind = "list"
    allowed = tuple(show(v) for v in values) if values else ("yes", "no") if kind == "yes/no" else ()
    examples = info.examples or []
    example = show(examples[0]) if examples else None
    if example is None and not required:
        example = "off" if default is None else show(default)
    if example is None:
        low = _low(info)
        example = allowed[0] if allowed else _number(low) if low is not None else None
    description = " ".join((info.description or name.replace("_", " ").capitalize()).split())
    # A bool that may be None keeps yes/no: "no" must stay False there, so it cannot mean "off".
    return SettingSpec(
        name=name,
        kind=kind,
        required=required,
        default=default,
        allowed=allowed,
        values=values,
        bounds=_bounds(info, "items" if kind == "list" else "characters" if kind == "text" else ""),
        description=description,
        nullable=nullable and inner is not bool,
        example=example,
    )


def setting_specs(settings: type[BaseModel]) -> list[SettingSpec]:
    """Return a Settings model's settings, required ones first, each in declaration order."""
    specs = [spec_for(name, info) for name, info in settings.model_fields.items()]
    return sorted(specs, key=lambda s: not s.required)


def example_text(settings: type[BaseModel]) -> str:
    """Return a settings text that shows the syntax: every required setting, else the first optional one."""
    specs = setting_specs(settings)
    shown = [s for s in specs if s.required] or specs[:1]
    return " ".join(f"{s.name}={quoted(s.example or '')}" for s in shown)


def quoted(value: str) -> str:
    """Return ``value`` quoted when it holds a space or is empty, so it reads back as one word."""
    return f'"{value}"' if not value or any(c.isspace() for c in value) else value


def tokens(text: str) -> list[Token]:
    """Split a settings text into words at spaces outside quotes (``note="a b"`` is one word)."""
    found: list[Token] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        start = index
        quote: str | None = None
        chars: list[str] = []
        while index < len(text) and (quote is not None or not text[index].isspace()):
            char = text[index]
            if quote is None and char in "\"'":
                quote = char
            elif char == quote:
                quote = None
            else:
                chars.append(char)
            index += 1
        found.append(Token(start, "".join(chars), quote is None))
    return found


# A word that starts a new setting (``interval=4h``); any other word after a free-text setting's value
# (``> 70``, ``and``, ``ema(50,``) goes on with that value.
_SETTING_START = re.compile(r"[A-Za-z_][\w-]*=")


def setting_words(text: str, specs: Mapping[str, SettingSpec]) -> list[Token]:
    """Split a settings text into one word per setting.

    A free-text setting's value may run on unquoted over words that are not ``name=value``: members type
    ``when=rsi(14, 4h) > 70 and close > ema(50, 1d)`` as they would say it, and every word after the first
    would otherwise be "not a setting".
    """
    merged: list[Token] = []
    for token in tokens(text):
        previous = merged[-1] if merged else None
        spec = specs.get(previous.key) if previous is not None and previous.value is not None else None
        runs_on = spec is not None and spec.kind == "text" and not _SETTING_START.match(token.text)
        if previous is not None and previous.closed and runs_on:
            merged[-1] = Token(previous.start, f"{previous.text} {token.text}", token.closed)
            continue
        merged.append(token)
    return merged


def _describe_missing(spec: SettingSpec) -> str:
    return f"`{spec.name}` ({spec.type_text}): {spec.description.rstrip('.')}"


def parse_settings(
    detector: str, settings: type[BaseModel], text: str | None, given_elsewhere: Collection[str] = ()
) -> dict[str, Any]:
    """Read ``key=value`` words into the dict ``settings`` validates.

    A required setting named in ``given_elsewhere`` (``level``, when /alert add has `levels`) may be left
    out. Raise UserError saying what is wrong with which setting (an unknown name gets the closest known one).
    """
    specs = {s.name: s for s in setting_specs(settings)}
    given: dict[str, Any] = {}
    for token in setting_words(text or "", specs):
        if not token.closed:
            raise UserError(f"A quote in {echo(token.text)} is never closed.")
        value = token.value
        if value is None:
            example = example_text(settings)
            raise UserError(
                f"{echo(token.text)} is not a setting: write each one as name=value, e.g. `{example}`."
            )
        key = token.key
        spec = specs.get(key)
        if spec is None:
            raise UserError(unknown_setting(detector, key, list(specs)))
        if key in given:
            raise UserError(f"`{key}` is given twice.")
        value = value.strip()
        if not value:
            example = quoted(spec.example or "")
            raise UserError(f"`{key}` has no value: it takes a {spec.type_text}, e.g. `{key}={example}`.")
        if spec.nullable and value.lower() in OFF_WORDS:
            given[key] = None
        elif spec.kind == "list":
            # An empty list is shown as "none" (its default in /alert detectors), so it reads back.
            empty = value.lower() in OFF_WORDS
            given[key] = [] if empty else [part for part in _LIST_SPLIT.split(value) if part]
        elif spec.values:
            # A choice typed in any case; a number choice (Literal[1, 2]) is not read from text by pydantic.
            typed = [
                v
                for v, shown in zip(spec.values, spec.allowed, strict=True)
                if shown.lower() == value.lower()
            ]
            given[key] = typed[0] if typed else value
        else:
            given[key] = value  # pydantic reads numbers, yes/no and choices from text
    missing = [
        s for s in specs.values() if s.required and s.name not in given and s.name not in given_elsewhere
    ]
    if missing:
        needed = "; ".join(_describe_missing(s) for s in missing)
        example = " ".join(f"{s.name}={quoted(s.example)}" for s in missing if s.example)
        them = "it" if len(missing) == 1 else "them"
        hint = f" Add {them} to `settings`, e.g. `{example}`." if example else ""
        raise UserError(f"{detector} needs {needed}.{hint}")
    return given


def unknown_setting(detector: str, key: str, known: Sequence[str]) -> str:
    """Return the message for a setting ``detector`` does not have, suggesting the closest name."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f" Did you mean `{close[0]}`?" if close else ""
    names = ", ".join(known) if known else "none"
    return f"{detector} has no setting {echo(key)}.{guess} Its settings: {names}."


def problem_text(detector: str, settings: type[BaseModel] | None, item: ErrorDetails) -> str:
    """Return one pydantic error as a member reads it: ```level` must be a number, e.g. level=95000``."""
    where = ".".join(str(part) for part in item["loc"])
    kind = item["type"]
    ctx = item.get("ctx") or {}
    spec = None
    if settings is not None and where in settings.model_fields:
        spec = spec_for(where, settings.model_fields[where])
    if kind == "extra_forbidden":
        return f"`{where}` is not a setting of {detector}"
    if kind == "missing":
        return f"`{where}` is needed"
    if kind in _TYPE_WORDS:
        example = f", e.g. {where}={quoted(spec.example)}" if spec is not None and spec.example else ""
        return f"`{where}` must be {_TYPE_WORDS[kind]}{example}"
    if kind in _BOUND_WORDS and _BOUND_WORDS[kind][1] in ctx:
        words, key = _BOUND_WORDS[kind]
        return f"`{where}` must be {words} {show(ctx[key])}"
    if kind in ("literal_error", "enum") and spec is not None and spec.allowed:
        return f"`{where}` must be one of {', '.join(spec.allowed)}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        unit = "characters" if kind.startswith("string") else "items"
        bound = ctx.get("min_length", ctx.get("max_length"))
        words = "at least" if kind.endswith("short") else "at most"
        return f"`{where}` must have {words} {bound} {unit}"
    message = str(item["msg"]).removeprefix("Value error, ")
    if not where:
        return message  # a check of several settings together words its own message
    return f"`{where}`: {message.replace('Input should be', 'should be')}"


def settings_problem(detector: str, settings: type[BaseModel] | None, error: ValidationError) -> UserError:
    """Turn a Settings validation error into one message naming the `settings` option and each setting."""
    problems = [problem_text(detector, settings, item) for item in error.errors(include_url=False)]
    shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
    return UserError(f"Invalid `settings` for {detector}: {shown}.")


def hint(text: str, message: str) -> list[tuple[str, str]]:
    """Return one suggestion showing ``message`` that, if picked, leaves the text as typed.

    Discord: a choice's value is at most 100 characters (application-commands.mdx, Application Command
    Option Choice Structure); past that the typed text cannot be the value, so nothing is offered.
    """
    if len(text) > MAX_CHOICE_CHARS:
        return []
    return [(message, text)]


def _choice(value: str, hint: str = "") -> tuple[str, str] | None:
    """Return an autocomplete (name, value) pair, or None when the value would not fit (never cut)."""
    if len(value) > MAX_CHOICE_CHARS or not value.strip():
        return None
    name = f"{value} ({hint})" if hint and len(value) + len(hint) + 3 <= MAX_CHOICE_CHARS else value
    return name, value


def _values_of(spec: SettingSpec) -> list[tuple[str, str]]:
    """Return (value, hint) pairs worth offering for a setting: its allowed values, else its default."""
    offered: list[tuple[str, str]] = []
    default = spec.default_text
    for value in spec.allowed:
        offered.append((value, "default" if value == default else ""))
    if not spec.allowed and spec.example is not None:
        offered.append((spec.example, "default" if spec.example == default else "e.g."))
    if spec.nullable and "off" not in [v for v, _ in offered]:
        offered.append(("off", "default" if default == "off" else "turns it off"))
    return offered


def complete_settings(settings: type[BaseModel], text: str) -> list[tuple[str, str]]:
    """Return up to 25 (name, value) completions of a settings text being typed.

    After a complete word (or nothing) the settings not given yet are offered, the next required one
    first; in ``key=`` the values of that setting; in a name being typed the names it starts. A free-text
    value the Settings model refuses (a combo's ``when`` half typed) is said first, with where it is wrong,
    and nothing is offered after it until it reads.
    """
    specs = setting_specs(settings)
    by_name = {s.name: s for s in specs}
    words = setting_words(text, by_name)
    typing = bool(words) and not text[-1:].isspace()
    current = words[-1] if typing else None
    done = words[:-1] if typing else words
    used = {w.key for w in done}
    base = text[: current.start] if current is not None else text
    if base and not base[-1:].isspace():
        base += " "
    found: list[tuple[str, str] | None] = []
    if current is not None and current.value is not None:
        found += _complete_value(settings, specs, current, used, base, text)
    else:
        last = done[-1] if done else None
        problem = [] if last is None or last.value is None else _last_value_problem(settings, last, text)
        found += problem
        if current is not None and current.key in by_name and current.key not in used:
            found += [
                _choice(f"{base}{current.key}={quoted(v)}", h) for v, h in _values_of(by_name[current.key])
            ]
        prefix = current.key if current is not None else ""
        if not problem:
            found += _next_settings(specs, used, base, prefix)
    unique: dict[str, tuple[str, str]] = {}
    for choice in found:
        if choice is not None and choice[1] not in unique:
            unique[choice[1]] = choice
    if not unique and None in found:
        # Every completion was past Discord's 100 characters: say so instead of going silent.
        return hint(text, TOO_LONG_HINT)
    return list(unique.values())[:MAX_CHOICES]


def _complete_value(
    settings: type[BaseModel],
    specs: Sequence[SettingSpec],
    current: Token,
    used: set[str],
    base: str,
    text: str,
) -> list[tuple[str, str] | None]:
    """Complete ``key=value`` being typed: the setting's values, then (once it is typed) the next settings."""
    spec = next((s for s in specs if s.name == current.key), None)
    value = current.value or ""
    if spec is None:
        close = difflib.get_close_matches(current.key, [s.name for s in specs], n=3, cutoff=0.6)
        return [_choice(f"{base}{name}={value}", "did you mean") for name in close]
    typed = value.strip()
    # Past the first character a hint such as "e.g." would describe the member's own value.
    values = [
        (v, h if not typed or h == "default" else "")
        for v, h in _values_of(spec)
        if v.lower().startswith(typed.lower())
    ]
    complete = typed.lower() in [a.lower() for a in spec.allowed] if spec.allowed else bool(typed)
    if typed and not spec.allowed and typed.lower() not in [v.lower() for v, _ in values]:
        values.insert(0, (typed, ""))
    problem = _value_problem(settings, spec, typed, text)
    found = problem + [_choice(f"{base}{spec.name}={quoted(v)}", h) for v, h in values]
    if current.closed and complete and not problem:
        # The value is typed: go on to the next setting after it.
        more = base + f"{spec.name}={quoted(typed)} "
        found += _next_settings(specs, used | {spec.name}, more, "")
    return found


def _last_value_problem(settings: type[BaseModel], last: Token, text: str) -> list[tuple[str, str] | None]:
    """Say what is wrong with the last free-text value when the text ends after it (a space typed)."""
    field = settings.model_fields.get(last.key)
    if field is None:
        return []
    return _value_problem(settings, spec_for(last.key, field), (last.value or "").strip(), text)


def _value_problem(
    settings: type[BaseModel], spec: SettingSpec, typed: str, text: str
) -> list[tuple[str, str] | None]:
    """Say what is wrong with a free-text value being typed (a combo's `when`), leaving the text as typed.

    Checked by the Settings model itself, as `/alert add` will check it: for a rule language, the member
    sees the first mistake and its character while typing, not after sending.
    """
    if spec.kind != "text" or not typed:
        return []
    try:
        settings.model_validate({spec.name: typed})
    except ValidationError as error:
        mine = [item for item in error.errors(include_url=False) if item["loc"][:1] == (spec.name,)]
        if mine:
            # A suggestion is plain text: Discord shows backticks there as they are.
            problem = problem_text("", settings, mine[0]).replace("`", "")
            return list(hint(text, shorten("✗ " + problem, MAX_CHOICE_CHARS)))
    return []


def _next_settings(
    specs: Sequence[SettingSpec], used: set[str], base: str, prefix: str
) -> list[tuple[str, str] | None]:
    """Offer ``name=`` for each setting not given yet whose name starts with ``prefix``, required first.

    A setting with a few allowed values is offered with each of them instead.
    """
    offered: list[tuple[str, str] | None] = []
    for spec in specs:
        if spec.name in used or not spec.name.startswith(prefix):
            continue
        if spec.required:
            hint = f"needed: {spec.type_text}"
            offered.append(_choice(f"{base}{spec.name}=", hint))
        elif spec.allowed:
            offered += [_choice(f"{base}{spec.name}={v}", h) for v, h in _values_of(spec)]
        else:
            hint = f"default {spec.default_text}" + (f"; {spec.bounds}" if spec.bounds else "")
            offered.append(_choice(f"{base}{spec.name}=", hint))
    return offered
