"""Strict JSON for the META and GRPH payloads: bounded, duplicate-free, finite, well-formed Unicode.

Python's ``json`` module accepts NaN/Infinity, silently keeps the last of
duplicate keys, turns ``1e400`` into ``inf``, accepts unpaired surrogates and
recurses per nesting level; each of those lets two readers see different data
or lets a small file exhaust the stack. ``loads`` rejects all of them before
any value is used (spec/FORMAT.md §7, spec/GRAPH.md §2) and raises only the
``FormatError`` subclass its caller names.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from .errors import FormatError

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
MAX_INT_DIGITS = 20  # beyond any int64; also avoids Python's huge-int parse cost


def max_depth(data: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside string literals (vectorised, no recursion)."""
    skeleton = _STRING.sub(b"", data)
    arr = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.zeros(arr.shape, dtype=np.int64)
    step[(arr == ord("[")) | (arr == ord("{"))] = 1
    step[(arr == ord("]")) | (arr == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


class _Reject(Exception):
    """Raised inside json.loads hooks; turned into the caller's error class."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Reject(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise _Reject(f"JSON constant {name} is not allowed (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Reject(f"JSON number {text[:40]!r} overflows float64")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Reject(f"JSON integer with {len(text)} digits is too large")
    return int(text)


def _check_strings(value: Any) -> None:
    """Every key and string must be encodable as UTF-8 (no unpaired surrogates from \\ud800 escapes)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                k.encode("utf-8")
                stack.append(x)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            v.encode("utf-8")


def loads(
    data: bytes, *, error: type[FormatError], max_bytes: int, max_nesting: int, field: str, offset: int | None = None
) -> Any:
    """Decode one strict JSON document from UTF-8 bytes, or raise ``error`` naming ``field`` and ``offset``."""

    def fail(message: str, at: int | None = None) -> FormatError:
        where = None if offset is None else offset + (at or 0)
        return error(message, field=field, offset=where)

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise fail(f"payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise fail(f"payload is {len(data)} bytes, limit {max_bytes}")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise fail(f"not valid UTF-8 ({exc.reason})", exc.start) from None
    if text.startswith("\ufeff"):
        raise fail("must not start with a byte-order mark")
    depth = max_depth(data)
    if depth > max_nesting:
        raise fail(f"JSON nesting depth {depth} exceeds {max_nesting}")
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
        _check_strings(value)
    except _Reject as exc:
        raise fail(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg}", exc.pos) from None
    except UnicodeEncodeError:
        raise fail("a JSON string holds a lone surrogate (unpaired \\ud800-\\udfff escape)") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise fail(f"not acceptable JSON: {type(exc).__name__}") from None
    return value


def dumps(obj: Any) -> bytes:
    """Canonical encoding: sorted keys, no spaces, UTF-8, finite numbers only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
