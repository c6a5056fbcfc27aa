"""The one-line text form of segment rules, for the CLI and for people.

::

    trait country = "FR" and did "Order Completed" at least 2 times in last 90 days
      and did "opened" in last 30 days and consent email_marketing

Conditions (keywords are case-insensitive; names are bare words or quoted strings):

* ``trait NAME CMP`` and ``computed NAME CMP``, where CMP is ``= != > >= < <=`` and a value,
  ``in [v, …]``, ``not in [v, …]``, ``contains v``, ``starts with v``, ``is set``, ``is not set``;
* ``has TYPE`` (an identifier of that type), ``consent PURPOSE [granted|denied]``;
* ``did [not] EVENT [at least|at most|exactly N times] [in last N days] [where …]``, where EVENT
  is a quoted name, a list ``["A", "B"]``, or a message type (``page``, ``screen "Cart"``); units
  are minutes, hours, days, weeks; ``where`` takes one property comparison, or several in
  parentheses joined by ``and``;
* ``in segment NAME``;
* ``not …``, ``… and …``, ``… or …`` (``and`` binds tighter) and parentheses.

Values are JSON strings (``"FR"``, with JSON escapes), numbers, ``true`` or ``false``; dates are
strings ``"2024-05-01"``. :func:`rule_text` prints a rule so that :func:`parse_text` reads back the
same rule.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from profilo.audiences.rules import (
    AllOf,
    AnyOf,
    Computed,
    Consent,
    Event,
    Identity,
    InSegment,
    Not,
    Rule,
    RuleError,
    Trait,
    parse_rule,
    rule_json,
)
from profilo.profiles.filters import PropertyFilter, Window

__all__ = ["parse_text", "rule_text"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>>=|<=|!=|==|=|>|<)
  | (?P<punct>[()\[\],])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    """,
    re.VERBOSE,
)
_OPS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_OP_TEXT = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TYPES = ("track", "page", "screen", "identify", "group", "alias", "record")
_UNITS = {
    "minute": "minutes",
    "minutes": "minutes",
    "hour": "hours",
    "hours": "hours",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
}
_KEYWORDS = frozenset(
    {
        "and", "or", "not", "trait", "computed", "has", "consent", "did", "in", "segment", "at",
        "least", "most", "exactly", "times", "time", "last", "within", "where", "is", "set",
        "exists", "contains", "starts", "with", "granted", "denied", "the", "true", "false",
        "null", *_TYPES, *_UNITS,
    }
)  # fmt: skip
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
MAX_TEXT_LENGTH = 20_000


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int
    value: Any = None

    @property
    def word(self) -> str | None:
        return self.text.lower() if self.kind == "word" else None


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError([(f"text at {pos + 1}", f"unexpected character {text[pos]!r}")])
        kind = m.lastgroup or ""
        piece = m.group()
        if kind == "string":
            value: Any
            if piece.startswith("'"):  # single quotes: backslashes are plain, but for \'
                value = piece[1:-1].replace("\\'", "'")
            else:
                try:
                    value = json.loads(piece)
                except ValueError:
                    raise RuleError([(f"text at {pos + 1}", f"invalid string {piece}")]) from None
            out.append(_Tok(kind, piece, pos, value))
        elif kind == "number":
            number = float(piece)
            if not math.isfinite(number):
                raise RuleError([(f"text at {pos + 1}", f"invalid number {piece}")])
            is_int = re.fullmatch(r"-?\d+", piece) is not None
            out.append(_Tok(kind, piece, pos, int(piece) if is_int else number))
        elif kind != "space":
            out.append(_Tok(kind, piece, pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


class _TextParser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, expected: str) -> RuleError:
        tok = self.tok
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return RuleError([(f"text at {tok.pos + 1}", f"expected {expected}, found {found}")])

    def at_word(self, *words: str) -> bool:
        return self.tok.word in words

    def at_words(self, *words: str) -> bool:
        return all(
            self.toks[min(self.i + k, len(self.toks) - 1)].word == w for k, w in enumerate(words)
        )

    def take_word(self, *words: str) -> str:
        if self.tok.word not in words:
            raise self.fail(" or ".join(repr(w) for w in words))
        word = self.tok.word
        self.i += 1
        assert word is not None
        return word

    def take_punct(self, text: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == text):
            raise self.fail(repr(text))
        self.i += 1

    def at_punct(self, text: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == text

    def name(self, what: str) -> str:
        tok = self.tok
        if tok.kind == "string" and isinstance(tok.value, str):
            self.i += 1
            return tok.value
        if tok.kind == "word" and tok.word not in _KEYWORDS:
            self.i += 1
            return tok.text
        raise self.fail(what)

    def value(self) -> Any:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.i += 1
            return tok.value
        if tok.word in ("true", "false"):
            self.i += 1
            return tok.word == "true"
        raise self.fail("a value (a quoted string, a number, true or false)")

    def values(self) -> list[Any]:
        close = {"(": ")", "[": "]"}
        if not (self.tok.kind == "punct" and self.tok.text in close):
            raise self.fail("a list such as [1, 2]")
        end = close[self.tok.text]
        self.i += 1
        items = [self.value()]
        while self.at_punct(","):
            self.i += 1
            items.append(self.value())
        self.take_punct(end)
        return items

    def integer(self, what: str) -> int:
        tok = self.tok
        if tok.kind == "number" and isinstance(tok.value, int) and tok.value >= 0:
            self.i += 1
            return tok.value
        raise self.fail(what)

    # -- grammar -----------------------------------------------------------------------------

    def rule(self) -> dict[str, Any]:
        node = self.either()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or the end of the rule")
        return node

    def either(self) -> dict[str, Any]:
        self.depth += 1
        if self.depth > 40:
            raise self.fail("a shallower rule (too many nested parentheses)")
        items = [self.both()]
        while self.at_word("or"):
            self.i += 1
            items.append(self.both())
        self.depth -= 1
        return items[0] if len(items) == 1 else {"any": items}

    def both(self) -> dict[str, Any]:
        items = [self.unary()]
        while self.at_word("and"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else {"all": items}

    def unary(self) -> dict[str, Any]:
        if self.at_word("not"):
            self.i += 1
            return {"not": self.unary()}
        if self.at_punct("("):
            self.i += 1
            node = self.either()
            self.take_punct(")")
            return node
        return self.condition()

    def condition(self) -> dict[str, Any]:
        word = self.tok.word
        if word in ("trait", "computed"):
            self.i += 1
            name = self.name(f"a {word} name")
            return {word: name, **self.comparison()}
        if word == "has":
            self.i += 1
            return {"identity": self.name("an identifier type")}
        if word == "consent":
            self.i += 1
            node: dict[str, Any] = {"consent": self.name("a consent purpose")}
            if self.at_word("granted", "denied"):
                node["status"] = self.take_word("granted", "denied")
            return node
        if word == "in":
            self.i += 1
            self.take_word("segment")
            return {"segment": self.name("a segment name")}
        if word == "did":
            self.i += 1
            return self.event()
        raise self.fail("a condition (trait, computed, has, consent, did, in segment, not, '(')")

    def comparison(self, prop: bool = False) -> dict[str, Any]:
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            return {"op": _OPS[tok.text], "value": self.value()}
        if self.at_word("in"):
            self.i += 1
            return {"op": "in", "value": self.values()}
        if self.at_words("not", "in"):
            self.i += 2
            return {"op": "not_in", "value": self.values()}
        if self.at_word("contains"):
            self.i += 1
            return {"op": "contains", "value": self.value()}
        if self.at_words("starts", "with"):
            self.i += 2
            return {"op": "starts_with", "value": self.value()}
        if self.at_words("is", "set") or self.at_word("exists"):
            self.i += 1 if self.at_word("exists") else 2
            return {"op": "exists"}
        if self.at_words("is", "not", "set"):
            self.i += 3
            return {"op": "not_exists"}
        if self.at_words("not", "exists"):
            self.i += 2
            return {"op": "not_exists"}
        raise self.fail(
            "a comparison (= != > >= < <=, in [...], not in [...], contains, starts with,"
            " is set, is not set)"
        )

    def event(self) -> dict[str, Any]:
        node: dict[str, Any] = {}
        negated = False
        if self.at_word("not"):
            self.i += 1
            negated = True
        if self.tok.word in _TYPES:
            node["type"] = self.tok.word
            self.i += 1
            if self.tok.kind == "string" or self.at_punct("["):
                node["event"] = self.event_names()
        else:
            node["event"] = self.event_names()
        while True:
            if self.at_word("at", "exactly"):
                if "count" in node or negated:
                    raise self.fail("one count per condition ('did not' means exactly 0 times)")
                node["count"] = self.count()
            elif (
                self.at_words("in", "last") or self.at_words("in", "the") or self.at_word("within")
            ):
                if "within" in node:
                    raise self.fail("one window per condition")
                node["within"] = self.window()
            elif self.at_word("where"):
                if "where" in node:
                    raise self.fail("one 'where' per condition; join filters with 'and' in (…)")
                self.i += 1
                node["where"] = self.filters()
            else:
                break
        if negated:
            node["count"] = {"op": "eq", "value": 0}
        return node

    def event_names(self) -> str | list[str]:
        if self.at_punct("["):
            self.i += 1
            names = [self.event_name()]
            while self.at_punct(","):
                self.i += 1
                names.append(self.event_name())
            self.take_punct("]")
            return names
        return self.event_name()

    def event_name(self) -> str:
        tok = self.tok
        if tok.kind == "string" and isinstance(tok.value, str):
            self.i += 1
            return tok.value
        if tok.kind == "word" and tok.word not in _KEYWORDS:
            self.i += 1
            return tok.text
        raise self.fail('an event name in quotes, such as "Order Completed"')

    def count(self) -> dict[str, Any]:
        if self.at_word("exactly"):
            self.i += 1
            op = "eq"
        else:
            self.take_word("at")
            op = "gte" if self.take_word("least", "most") == "least" else "lte"
        value = self.integer("a whole number of times")
        self.take_word("times", "time")
        return {"op": op, "value": value}

    def window(self) -> dict[str, Any]:
        self.take_word("in", "within")
        if self.at_word("the"):
            self.i += 1
        if self.at_word("last"):
            self.i += 1
        last = self.integer("a whole number")
        unit = self.take_word(*_UNITS)
        return {"last": last, "unit": _UNITS[unit]}

    def filters(self) -> list[dict[str, Any]]:
        if self.at_punct("("):
            self.i += 1
            items = [self.filter()]
            while self.at_word("and"):
                self.i += 1
                items.append(self.filter())
            self.take_punct(")")
            return items
        return [self.filter()]

    def filter(self) -> dict[str, Any]:
        name = self.name("a property name")
        return {"property": name, **self.comparison(prop=True)}


def parse_text(text: str) -> Rule:
    """A rule from its text form; :class:`RuleError` says where the text goes wrong.

    >>> parse_text('trait country = "FR" and has email')
    AllOf(all=(Trait(op='eq', value='FR', trait='country'), Identity(identity='email')))
    """
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError([("text", f"a rule is at most {MAX_TEXT_LENGTH} characters")])
    if not text.strip():
        raise RuleError([("text", "empty rule")])
    return parse_rule(_TextParser(text).rule())


# -- printing ------------------------------------------------------------------------------------


def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _name(value: str) -> str:
    if _BARE.match(value) and value.lower() not in _KEYWORDS:
        return value
    return _str(value)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if re.fullmatch(r"-?[\d.]+(e[-+]?\d+)?", text) else json.dumps(value)
    return _str(str(value))


def _comparison(op: str, values: tuple[Any, ...]) -> str:
    if op in _OP_TEXT:
        return f"{_OP_TEXT[op]} {_value(values[0])}"
    if op in ("in", "not_in"):
        items = ", ".join(_value(v) for v in values)
        return f"{'in' if op == 'in' else 'not in'} [{items}]"
    if op == "contains":
        return f"contains {_value(values[0])}"
    if op == "starts_with":
        return f"starts with {_value(values[0])}"
    return "is set" if op == "exists" else "is not set"


def _filter(flt: PropertyFilter) -> str:
    return f"{_name(flt.property)} {_comparison(flt.op, flt.values)}"


def _window(window: Window) -> str:
    return f"in last {window.last} {window.unit}"


def _event(rule: Event) -> str:
    parts = ["did"]
    absent = rule.count.op == "eq" and rule.count.value == 0
    if absent:
        parts.append("not")
    if rule.type is not None:
        parts.append(rule.type)
    if len(rule.event) == 1:
        parts.append(_str(rule.event[0]))
    elif rule.event:
        parts.append("[" + ", ".join(_str(e) for e in rule.event) + "]")
    count = rule.count
    if not absent and not (count.op == "gte" and count.value == 1):
        word = {"gte": "at least", "lte": "at most", "eq": "exactly"}[count.op]
        parts.append(f"{word} {count.value} times")
    if rule.within is not None:
        parts.append(_window(rule.within))
    if len(rule.where) == 1:
        parts.append(f"where {_filter(rule.where[0])}")
    elif rule.where:
        parts.append("where (" + " and ".join(_filter(f) for f in rule.where) + ")")
    return " ".join(parts)


def rule_text(rule: Rule) -> str:
    """The text form of a rule (:func:`parse_text` reads it back to the same rule).

    >>> rule_text(parse_rule({"not": {"event": "opened", "within": {"last": 90}}}))
    'not did "opened" in last 90 days'
    """
    if isinstance(rule, AllOf | AnyOf):
        children = rule.all if isinstance(rule, AllOf) else rule.any
        joiner = " and " if isinstance(rule, AllOf) else " or "
        return joiner.join(
            f"({rule_text(c)})" if isinstance(c, AllOf | AnyOf) else rule_text(c) for c in children
        )
    if isinstance(rule, Not):
        inner = rule.not_
        text = rule_text(inner)
        return f"not ({text})" if isinstance(inner, AllOf | AnyOf) else f"not {text}"
    if isinstance(rule, Trait):
        return f"trait {_name(rule.trait)} {_comparison(rule.op, rule.values)}"
    if isinstance(rule, Computed):
        return f"computed {_name(rule.computed)} {_comparison(rule.op, rule.values)}"
    if isinstance(rule, Identity):
        return f"has {_name(rule.identity)}"
    if isinstance(rule, Consent):
        status = "" if rule.status == "granted" else " denied"
        return f"consent {_name(rule.consent)}{status}"
    if isinstance(rule, InSegment):
        return f"in segment {_name(rule.segment)}"
    assert isinstance(rule, Event)
    return _event(rule)


_ = rule_json  # the JSON form sits beside the text form for callers importing both
