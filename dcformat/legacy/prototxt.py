"""A small parser for protobuf text format, enough for Caffe ``.prototxt`` files.

It reads the syntax only (fields, nested messages, scalars); what the fields
mean is :mod:`dcformat.legacy.caffe`'s job. Nothing in the text is executed or
used to look up Python objects. Input size, nesting depth and field count are
capped so a hostile file costs bounded time and memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Union

from ..errors import FormatError

MAX_TEXT_BYTES = 16 << 20
MAX_DEPTH = 32
MAX_FIELDS = 1_000_000

Scalar = Union[str, int, float, bool, "Enum"]
Value = Union[Scalar, "Message"]


class PrototxtError(FormatError):
    """The prototxt text is malformed or exceeds a cap."""


class Enum(str):
    """A bare identifier value (``pool: MAX``), kept apart from quoted strings."""


@dataclass
class Message:
    """Ordered (name, value) pairs; repeated fields simply appear several times."""

    fields: list[tuple[str, Value]] = field(default_factory=list)

    def get_all(self, name: str) -> list[Value]:
        return [v for k, v in self.fields if k == name]

    def get(self, name: str, default: Value | None = None) -> Value | None:
        """The last value of ``name`` (protobuf's rule for a repeated scalar read as singular)."""
        values = self.get_all(name)
        return values[-1] if values else default

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self.fields)

    def messages(self, name: str) -> list["Message"]:
        out = self.get_all(name)
        for v in out:
            if not isinstance(v, Message):
                raise PrototxtError(f"field {name!r} should be a message, got {v!r}")
        return out  # type: ignore[return-value]


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>[-+]?[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}<>:;,\[\]])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _tokens(text: str) -> Iterator[tuple[str, str, int]]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise PrototxtError(f"line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            yield kind, m.group(), pos
        pos = m.end()


def _unquote(tok: str, line: int) -> str:
    body = tok[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert m is not None
            out.append(chr(int(m.group(), 8)))
            i += 1 + len(m.group())
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            if not m:
                raise PrototxtError(f"line {line}: bad \\x escape")
            out.append(chr(int(m.group(), 16)))
            i += 2 + len(m.group())
        else:
            raise PrototxtError(f"line {line}: unknown escape \\{nxt}")
    return "".join(out)


def _number(tok: str) -> int | float:
    t = tok.rstrip("fF") if not tok.lower().startswith(("0x", "-0x", "+0x")) else tok
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    return float(t)


def _scalar_ident(tok: str) -> Scalar:
    low = tok.lower()
    if low in ("true", "t"):
        return True
    if low in ("false", "f"):
        return False
    if low.lstrip("+-") in ("inf", "infinity", "nan"):
        return float(low)
    return Enum(tok)


def parse(text: str | bytes) -> Message:
    """Parse prototxt ``text`` into a :class:`Message` tree."""
    if isinstance(text, bytes):
        if len(text) > MAX_TEXT_BYTES:
            raise PrototxtError(f"prototxt is {len(text)} bytes; the cap is {MAX_TEXT_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PrototxtError(f"prototxt is not UTF-8 (byte {exc.start})") from None
    if len(text) > MAX_TEXT_BYTES:
        raise PrototxtError(f"prototxt is {len(text)} characters; the cap is {MAX_TEXT_BYTES}")
    toks = list(_tokens(text))
    stack: list[tuple[Message, str]] = [(Message(), "")]  # (message, closing bracket)
    n_fields = 0
    i = 0

    def line_of(k: int) -> int:
        return text.count("\n", 0, toks[k][2] if k < len(toks) else len(text)) + 1

    while i < len(toks):
        kind, tok, _ = toks[i]
        if kind == "punct" and tok in "}>":
            if len(stack) == 1 or stack[-1][1] != tok:
                raise PrototxtError(f"line {line_of(i)}: unbalanced {tok!r}")
            stack.pop()
            i += 1
            continue
        if kind == "punct" and tok in ";,":
            i += 1
            continue
        if kind != "ident":
            raise PrototxtError(f"line {line_of(i)}: expected a field name, got {tok!r}")
        name = tok
        i += 1
        colon = i < len(toks) and toks[i][1] == ":"
        if colon:
            i += 1
        if i >= len(toks):
            raise PrototxtError(f"line {line_of(i)}: field {name!r} has no value")
        kind, tok, _ = toks[i]
        n_fields += 1
        if n_fields > MAX_FIELDS:
            raise PrototxtError(f"more than {MAX_FIELDS} fields")
        if kind == "punct" and tok in "{<":
            if len(stack) > MAX_DEPTH:
                raise PrototxtError(f"line {line_of(i)}: nesting deeper than {MAX_DEPTH}")
            child = Message()
            stack[-1][0].fields.append((name, child))
            stack.append((child, "}" if tok == "{" else ">"))
            i += 1
            continue
        if not colon:
            raise PrototxtError(f"line {line_of(i)}: expected ':' after {name!r}")
        if kind == "punct" and tok == "[":  # short repeated form: dim: [1, 3, 224, 224]
            i += 1
            while i < len(toks) and toks[i][1] != "]":
                if toks[i][1] != ",":
                    stack[-1][0].fields.append((name, _value(toks[i], line_of(i))))
                i += 1
            if i >= len(toks):
                raise PrototxtError(f"line {line_of(i)}: unclosed '['")
            i += 1
            continue
        value = _value(toks[i], line_of(i))
        i += 1
        while isinstance(value, str) and not isinstance(value, Enum) and i < len(toks) and toks[i][0] == "str":
            value += _unquote(toks[i][1], line_of(i))  # adjacent strings concatenate
            i += 1
        stack[-1][0].fields.append((name, value))
    if len(stack) != 1:
        raise PrototxtError("unexpected end of text: unclosed '{'")
    return stack[0][0]


def _value(token: tuple[str, str, int], line: int) -> Scalar:
    kind, tok, _ = token
    if kind == "str":
        return _unquote(tok, line)
    if kind == "num":
        return _number(tok)
    if kind == "ident":
        return _scalar_ident(tok)
    raise PrototxtError(f"line {line}: expected a value, got {tok!r}")


__all__ = ["parse", "Message", "Enum", "PrototxtError"]
