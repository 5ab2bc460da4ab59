"""Read a combo rule's ``when`` text into a tree of comparisons, refusing anything else with its position.

The language is deliberately small and strict, and it is never evaluated as Python::

    when      := or_expr
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := atom ("and" atom)*
    atom      := "(" or_expr ")" | operand OP operand        OP is one of < <= > >=
    operand   := NUMBER | series
    series    := NAME ["(" [arg ("," arg)*] ")"] ["." OUTPUT]   arg is a NUMBER or an INTERVAL (4h, 1d)

``NAME`` is one of ``SERIES`` (close, open, high, low, volume and the indicators rsi, sma, ema, macd,
bollinger, stoch_rsi). Numbers fill an indicator's parameters in order (defaults for the ones left out);
an interval, when given, comes last; without one the rule's own ``interval`` is used. An indicator with
several outputs names the one it means (``macd(12, 26, 9, 4h).hist``, ``bollinger(20, 2).upper``).

Why a hand-written recursive-descent parser and not a parsing library (lark, pyparsing): the grammar is
LL(1) with five rules and one token of look-ahead, so the parser is a few short functions; what takes the
words is the member-facing errors ("rsi's period must be 2 to 1000", "unknown name rsx: did you mean
rsi?"), and with a library those come from translating its generic ``UnexpectedToken``/expected-terminal
sets back into words, a layer as long as this parser. The semantic checks (names, arity, bounds) are ours
either way. So the hand-written parser is smaller, has no dependency, and every error is worded where it
is found, with the character it is at.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from storage.rows import INTERVAL_MS

Op = Literal["<", "<=", ">", ">="]
OPS: tuple[Op, ...] = ("<", "<=", ">", ">=")
# Bounds that keep a rule cheap and readable: Discord's option is shorter than this anyway, and a rule of
# more than a dozen comparisons is a mistake, not a strategy.
MAX_TEXT = 400
MAX_COMPARISONS = 12
MAX_DEPTH = 8
# A number in a rule is a price, a level of an oscillator or a volume: nothing sane is beyond this.
MAX_NUMBER = 1e12


class ComboSyntaxError(ValueError):
    """A ``when`` text the grammar refuses: ``message`` says what, ``position`` (0-based) where."""

    def __init__(self, message: str, position: int, text: str) -> None:
        self.message = message
        self.position = position
        self.text = text
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return where first, then what: ``at character 9 (`rsi(14, 4x`): unknown interval 4x: ...``.

        The place comes first so a message cut to fit (an autocomplete suggestion) still says where.
        """
        match = _TOKEN.match(self.text, self.position)
        end = match.end() if match is not None and match.lastgroup != "space" else self.position + 1
        shown = self.text[:end].strip()
        if len(shown) > 40:
            shown = "…" + shown[-39:]
        where = f"at character {self.position + 1}" + (f" (`{shown}`)" if shown else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Param:
    """One numeric parameter of a series: its name, default (None: required), bounds and whether whole."""

    name: str
    default: float | None
    low: float
    high: float
    whole: bool = True


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What a series name takes: its parameters, its outputs (empty: one value) and how it is shown."""

    label: str
    params: tuple[Param, ...] = ()
    outputs: tuple[str, ...] = ()
    example: str = ""


def _period(default: float | None, low: float = 2) -> Param:
    return Param("period", default, low, 1000)


SERIES: dict[str, SeriesSpec] = {
    "close": SeriesSpec("close", example="close(1d)"),
    "open": SeriesSpec("open", example="open(1d)"),
    "high": SeriesSpec("high", example="high(1d)"),
    "low": SeriesSpec("low", example="low(1d)"),
    "volume": SeriesSpec("volume", example="volume(1h)"),
    "rsi": SeriesSpec("RSI", (_period(14),), example="rsi(14, 4h)"),
    "sma": SeriesSpec("SMA", (_period(None, 1),), example="sma(50, 1d)"),
    "ema": SeriesSpec("EMA", (_period(None, 1),), example="ema(50, 1d)"),
    "macd": SeriesSpec(
        "MACD",
        (Param("fast", 12, 1, 500), Param("slow", 26, 2, 1000), Param("signal", 9, 1, 500)),
        ("line", "signal", "hist"),
        "macd(12, 26, 9, 4h).hist",
    ),
    "bollinger": SeriesSpec(
        "BB",
        (_period(20), Param("stddev", 2, 0.1, 10, whole=False)),
        ("upper", "mid", "lower", "width"),
        "bollinger(20, 2, 1h).upper",
    ),
    "stoch_rsi": SeriesSpec(
        "StochRSI",
        (
            Param("rsi_period", 14, 2, 1000),
            Param("stoch_period", 14, 2, 1000),
            Param("k", 3, 1, 100),
            Param("d", 3, 1, 100),
        ),
        ("k", "d"),
        "stoch_rsi(14, 14, 3, 3, 1h).k",
    ),
}
PRICE_FIELDS = ("close", "open", "high", "low", "volume")


@dataclass(frozen=True, slots=True)
class Number:
    """A number written in the rule."""

    value: float
    text: str
    start: int


@dataclass(frozen=True, slots=True)
class Series:
    """A market value: a candle field or an indicator output, at an interval (None: the rule's own)."""

    name: str
    params: tuple[float, ...]
    interval: str | None
    output: str | None
    start: int

    def label(self, default_interval: str) -> str:
        """Return how an alert names it: ``RSI(14, 4h)``, ``close``, ``1d close``, ``BB(20, 2, 1h) upper``."""
        spec = SERIES[self.name]
        if not spec.params:
            return spec.label if self.interval is None else f"{self.interval} {spec.label}"
        args = [_show_number(p) for p in self.params] + [self.interval or default_interval]
        outputs = f" {self.output}" if self.output else ""
        return f"{spec.label}({', '.join(args)}){outputs}"

    def key(self, default_interval: str) -> tuple[str, tuple[float, ...], str]:
        """Return what identifies the indicator computing it (outputs of one MACD share one object)."""
        return (self.name, self.params, self.interval or default_interval)


Operand = Number | Series


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right``, at least one side a market value."""

    left: Operand
    op: Op
    right: Operand
    start: int


@dataclass(frozen=True, slots=True)
class Junction:
    """All (``and``) or any (``or``) of two or more parts."""

    op: Literal["and", "or"]
    parts: tuple[Node, ...]


Node = Comparison | Junction


def _show_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- tokens --------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<interval>\d+[a-z]\w*)
  | (?P<number>-?(?:\d+(?:\.\d+)?|\.\d+)(?![\w]))
  | (?P<name>[a-z_][a-z0-9_]*)
  | (?P<op><=|>=|==|!=|=>|=<|<|>|=)
  | (?P<punct>[(),.])
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind (name, number, interval, op, punct, end), text (lower case) and position."""

    kind: str
    text: str
    start: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens ending with an ``end`` token; raise ComboSyntaxError on a stray char."""
    found: list[Token] = []
    index = 0
    while index < len(text):
        match = _TOKEN.match(text, index)
        if match is None:
            raise ComboSyntaxError(_stray(text[index]), index, text)
        kind = match.lastgroup or ""
        if kind != "space":
            found.append(Token(kind, match.group().lower(), index))
        index = match.end()
    found.append(Token("end", "", len(text)))
    return found


# Comparison signs a keyboard or a copied formula may bring, with how the rule writes them.
_SIGNS = {"≥": ">=", "≤": "<="}


def _stray(char: str) -> str:
    if char in _SIGNS:
        return f"unexpected `{char}`: write {_SIGNS[char]}"
    if char in "$,_":
        return f"unexpected `{char}`: write numbers without $, commas or underscores (95000)"
    if char in "+-*/":
        return f"unexpected `{char}`: a rule compares values, it does no arithmetic"
    return f"unexpected character `{char}`"


# --- parser --------------------------------------------------------------------------------------------


def parse(text: str) -> Node:
    """Return the tree of ``text``, or raise ComboSyntaxError saying what is wrong and where."""
    if len(text) > MAX_TEXT:
        raise ComboSyntaxError(f"a rule is at most {MAX_TEXT} characters", MAX_TEXT, text)
    if not text.strip():
        raise ComboSyntaxError(
            "the rule is empty: write e.g. `rsi(14, 4h) > 70 and close > ema(50, 1d)`", 0, text
        )
    parser = _Parser(text, tokenize(text))
    tree = parser.or_expr(0)
    token = parser.peek()
    if token.text == ",":
        raise parser.error(token, "write numbers without commas (96120), and join conditions with `and`/`or`")
    if token.kind != "end":
        raise parser.error(token, "expected `and`, `or` or the end of the rule")
    return tree


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.comparisons = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept(self, kind: str, text: str) -> Token | None:
        token = self.peek()
        if token.kind == kind and token.text == text:
            return self.take()
        return None

    def error(self, token: Token, message: str) -> ComboSyntaxError:
        found = "the end of the rule" if token.kind == "end" else f"`{token.text}`"
        if "found" not in message and not message.startswith("unknown"):
            message = f"{message}, found {found}"
        return ComboSyntaxError(message, token.start, self.text)

    def or_expr(self, depth: int) -> Node:
        parts = [self.and_expr(depth)]
        while self.accept("name", "or"):
            parts.append(self.and_expr(depth))
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def and_expr(self, depth: int) -> Node:
        parts = [self.atom(depth)]
        while self.accept("name", "and"):
            parts.append(self.atom(depth))
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def atom(self, depth: int) -> Node:
        opening = self.accept("punct", "(")
        if opening is not None:
            if depth >= MAX_DEPTH:
                raise self.error(opening, f"parentheses nest at most {MAX_DEPTH} deep")
            inner = self.or_expr(depth + 1)
            if self.accept("punct", ")") is None:
                raise self.error(
                    self.peek(), f"expected `)` closing the `(` at character {opening.start + 1}"
                )
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        left = self.operand()
        token = self.peek()
        if token.kind != "op" or token.text not in OPS:
            if token.kind == "op":
                hint = "use <, <=, > or >= (prices are never exactly equal)"
                raise ComboSyntaxError(f"`{token.text}` is not a comparison: {hint}", token.start, self.text)
            raise self.error(token, "expected a comparison (<, <=, > or >=)")
        self.take()
        right = self.operand()
        if isinstance(left, Number) and isinstance(right, Number):
            raise ComboSyntaxError(
                "this compares two numbers: one side must be a market value (close, rsi(...), ...)",
                left.start,
                self.text,
            )
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise ComboSyntaxError(f"a rule has at most {MAX_COMPARISONS} comparisons", left.start, self.text)
        after = self.peek()
        if after.kind == "op":
            raise ComboSyntaxError(
                "comparisons do not chain: write `a < b and b < c`", after.start, self.text
            )
        return Comparison(left, token.text, right, left.start)

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind == "number":
            self.take()
            value = float(token.text)
            if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                raise ComboSyntaxError(f"{token.text} is out of range", token.start, self.text)
            return Number(value, token.text, token.start)
        if token.kind == "name" and token.text not in ("and", "or"):
            self.take()
            return self.series(token)
        if token.kind == "interval" and token.text not in INTERVAL_MS:
            raise ComboSyntaxError(
                f"{token.text} is not a number: write numbers plainly (95000)", token.start, self.text
            )
        if token.kind == "interval":
            raise ComboSyntaxError(
                f"an interval ({token.text}) goes inside a call: close({token.text}), rsi(14, {token.text})",
                token.start,
                self.text,
            )
        raise self.error(token, "expected a number or a market value (close, rsi(14, 4h), ema(50, 1d), ...)")

    def series(self, name: Token) -> Series:
        spec = SERIES.get(name.text)
        if spec is None:
            raise ComboSyntaxError(_unknown_name(name.text), name.start, self.text)
        args: list[Token] = []
        if self.accept("punct", "("):
            args = self.arguments()
        numbers, interval = _split_arguments(self, name, spec, args)
        output = self.output(name, spec)
        return Series(name.text, numbers, interval, output, name.start)

    def arguments(self) -> list[Token]:
        args: list[Token] = []
        if self.accept("punct", ")"):
            return args
        while True:
            token = self.peek()
            if token.kind not in ("number", "interval"):
                raise self.error(token, "expected a number or an interval (4h, 1d) as an argument")
            args.append(self.take())
            if self.accept("punct", ")"):
                return args
            if self.accept("punct", ",") is None:
                raise self.error(self.peek(), "expected `,` or `)` after an argument")

    def output(self, name: Token, spec: SeriesSpec) -> str | None:
        dot = self.accept("punct", ".")
        if dot is None:
            if spec.outputs:
                choices = _either(f".{o}" for o in spec.outputs)
                raise ComboSyntaxError(
                    f"{name.text} has several lines: add {choices}, e.g. {spec.example}",
                    name.start,
                    self.text,
                )
            return None
        token = self.peek()
        if not spec.outputs:
            raise ComboSyntaxError(f"{name.text} has one value: remove `.{token.text}`", dot.start, self.text)
        if token.kind != "name" or token.text not in spec.outputs:
            choices = _either(spec.outputs)
            raise self.error(token, f"{name.text} has the lines {choices}")
        return self.take().text


def _split_arguments(
    parser: _Parser, name: Token, spec: SeriesSpec, args: list[Token]
) -> tuple[tuple[float, ...], str | None]:
    """Check a call's arguments: numbers for the parameters in order, then at most one interval."""
    interval: str | None = None
    numbers: list[float] = []
    for index, arg in enumerate(args):
        if arg.kind == "interval":
            if arg.text not in INTERVAL_MS:
                raise ComboSyntaxError(
                    f"unknown interval {arg.text}: use one of {', '.join(INTERVAL_MS)}",
                    arg.start,
                    parser.text,
                )
            if index != len(args) - 1:
                raise ComboSyntaxError(f"the interval comes last in {name.text}(...)", arg.start, parser.text)
            interval = arg.text
            continue
        if len(numbers) == len(spec.params):
            raise ComboSyntaxError(_arity(name.text, spec), arg.start, parser.text)
        numbers.append(_check_param(parser, name.text, spec.params[len(numbers)], arg))
    for param in spec.params[len(numbers) :]:
        if param.default is None:
            raise ComboSyntaxError(
                f"{name.text} needs its {param.name}, e.g. {spec.example}", name.start, parser.text
            )
        numbers.append(param.default)
    if name.text == "macd" and numbers[0] >= numbers[1]:
        raise ComboSyntaxError(
            "macd's fast period must be shorter than its slow one", name.start, parser.text
        )
    return tuple(numbers), interval


def _check_param(parser: _Parser, name: str, param: Param, arg: Token) -> float:
    value = float(arg.text)
    if param.whole and not value.is_integer():
        raise ComboSyntaxError(f"{name}'s {param.name} must be a whole number", arg.start, parser.text)
    if not param.low <= value <= param.high:
        bounds = f"{_show_number(param.low)} to {_show_number(param.high)}"
        raise ComboSyntaxError(f"{name}'s {param.name} must be {bounds}", arg.start, parser.text)
    return value


def _arity(name: str, spec: SeriesSpec) -> str:
    if not spec.params:
        return f"{name} takes only an interval, e.g. {spec.example}"
    names = ", ".join(p.name for p in spec.params)
    return f"{name} takes at most {len(spec.params)} number(s) ({names}) and an interval, e.g. {spec.example}"


def _unknown_name(name: str) -> str:
    # A name being typed (``cl``) is most likely the start of one; else the closest spelling.
    close = [known for known in SERIES if known.startswith(name)][:1]
    close = close or difflib.get_close_matches(name, list(SERIES), n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown name {name}{guess}; known names: {', '.join(SERIES)}"


def _either(words: Iterator[str] | tuple[str, ...]) -> str:
    items = list(words)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def series_in(node: Node) -> Iterator[Series]:
    """Yield every market value the tree reads, left to right."""
    if isinstance(node, Junction):
        for part in node.parts:
            yield from series_in(part)
        return
    for side in (node.left, node.right):
        if isinstance(side, Series):
            yield side
