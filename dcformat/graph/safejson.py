"""Strict JSON decoding for the GRPH payload: bounded, duplicate-free, finite.

Python's ``json`` module accepts NaN/Infinity, silently keeps the last of
duplicate keys and recurses per nesting level; each of those lets two readers
see different graphs or lets a small file exhaust the stack. This module
rejects all of them *before* any value is used, and raises only GraphError.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from ..errors import GraphError

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def max_depth(data: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside string literals (vectorised, no recursion)."""
    skeleton = _STRING.sub(b"", data)
    arr = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.zeros(arr.shape, dtype=np.int64)
    step[(arr == ord("[")) | (arr == ord("{"))] = 1
    step[(arr == ord("]")) | (arr == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise GraphError(f"duplicate JSON key {k!r}", field="json")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise GraphError(f"JSON constant {name} is not allowed (numbers must be finite)", field="json")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise GraphError(f"JSON number {text[:40]!r} overflows float64", field="json")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:  # beyond any int64; also avoids Python's huge-int parse cost
        raise GraphError(f"JSON integer with {len(text)} digits is too large", field="json")
    return int(text)


def loads(data: bytes, *, max_bytes: int, max_nesting: int) -> Any:
    """Decode one strict JSON document from UTF-8 bytes or raise GraphError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise GraphError(f"graph payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise GraphError(f"graph payload is {len(data)} bytes, limit {max_bytes}", field="size")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise GraphError(f"graph payload is not valid UTF-8 ({exc.reason})", offset=exc.start) from None
    if text.startswith("\ufeff"):
        raise GraphError("graph payload must not start with a byte-order mark", field="json")
    depth = max_depth(data)
    if depth > max_nesting:
        raise GraphError(f"JSON nesting depth {depth} exceeds {max_nesting}", field="json")
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except GraphError:
        raise
    except json.JSONDecodeError as exc:
        raise GraphError(f"graph payload is not valid JSON: {exc.msg}", field="json", offset=exc.pos) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. lone surrogates, deep input
        raise GraphError(f"graph payload is not acceptable JSON: {type(exc).__name__}", field="json") from None


def dumps(obj: Any) -> bytes:
    """Canonical encoding: sorted keys, no spaces, UTF-8, finite numbers only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
