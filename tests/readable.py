"""What people read must read like a person wrote it: the checks shared by the readable-values tests.

``unreadable(text)`` lists what in a text a person should never see: a raw epoch number (ms or s, with or
without thousands separators), ``None``, a Python float repr (20000000.0, 0.30000000000000004, 1e-05, 7.0)
and a snake_case name. Code spans (``min_usd=20000000``: what members type, rule ids) and Discord
timestamps (``<t:1768345200:f>``: Discord shows them as dates) are left out first, and so are the
identifiers a caller names (a rule id, a detector's name in a footer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from detectors.base import Detector
from detectors.values import COMMON_VALUE_SPECS, ValueKind, format_value, spec_of

_CODE = re.compile(r"`[^`]*`")
_DISCORD_TIME = re.compile(r"<t:\d+(?::[tTdDfFR])?>")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")
# (what, pattern, whether it reads the text with thousands separators taken out: an epoch is raw however
# it is grouped, while 95,757.21 is a price written for people and 95757.21 a repr).
_CHECKS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    ("an epoch in ms", re.compile(r"(?<![\d.])1[5-9]\d{11}(?!\d)"), True),
    ("an epoch in seconds", re.compile(r"(?<![\d.])1[6-9]\d{8}(?![\d.])"), True),
    ("None", re.compile(r"\bNone\b"), False),
    ("a float repr (big number with decimals)", re.compile(r"(?<![\d.,])\d{5,}\.\d+"), False),
    # Binary noise (0.30000000000000004, 2.6999999999999997) or more decimals than any price needs (the
    # cheapest price a rule may name, 1e-9, is written with nine).
    ("a float repr (long decimals)", re.compile(r"\d\.(\d{10,}|\d*(0{5,}|9{5,})[1-9])"), False),
    ("a float repr (exponent)", re.compile(r"\d[eE][+-]?\d"), False),
    ("a float repr (.0)", re.compile(r"(?<![\d.,])\d+\.0(?![\d%×MkB])"), False),
    ("a name left empty", re.compile(r"\w : "), False),
    ("a unit for a name", re.compile(r"\b(Usd|Pct|Ms)\b"), False),
    ("a snake_case name", re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]*[a-z0-9]\b"), False),
)


def unreadable(text: str, identifiers: Iterable[str] = ()) -> list[str]:
    """Return what in ``text`` a person should not see, each as "what: the match", or nothing."""
    cleaned = _DISCORD_TIME.sub("", _CODE.sub("", text))
    for name in sorted(identifiers, key=len, reverse=True):
        # A word stands in for it: a title may use the detector's name as a word ("BTC combo: ..."), and
        # taking it out would leave "BTC : ...", a name left empty that the text does not have.
        cleaned = cleaned.replace(name, "Name")
    ungrouped = _THOUSANDS.sub("", cleaned)
    return [
        f"{what}: {match.group(0)!r} in {text!r}"
        for what, pattern, ungroup in _CHECKS
        for match in pattern.finditer(ungrouped if ungroup else cleaned)
    ]


def value_problems(detector: type[Detector], values: Mapping[str, Any]) -> list[str]:
    """Return the values a detector returned that it did not declare, or that do not read cleanly."""
    problems = []
    declared = {**COMMON_VALUE_SPECS, **detector.value_specs}
    for key, value in values.items():
        if key not in declared:
            problems.append(f"{detector.name} returned value {key!r} that its value_specs does not declare")
            continue
        spec = spec_of(key, value, declared)
        text = format_value(spec, value, siblings=values)
        if text is None and value is not None and spec.kind is not ValueKind.HIDDEN:
            problems.append(f"{detector.name} value {key!r}={value!r} is dropped: its kind cannot write it")
        if text is not None:
            problems += [f"{detector.name} value {key!r}: {p}" for p in unreadable(f"{spec.label}: {text}")]
    return problems
