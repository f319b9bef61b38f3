"""The JSON metadata block (META section, spec §6): canonical on write, strict on read."""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..errors import MetadataError
from ..limits import Limits


def build_metadata(metadata: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN/Infinity (so the bytes are deterministic)."""
    if not isinstance(metadata, Mapping):
        raise ValueError("metadata must be a mapping with str keys")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON-serialisable: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MetadataError(f"duplicate key {key!r} in metadata JSON", field="metadata")
        out[key] = value
    return out


def _reject_constant(token: str) -> None:
    raise MetadataError(f"{token} is not allowed in metadata JSON", field="metadata")


def _depth(value: Any) -> int:
    """Nesting depth of arrays/objects ({} is 1, {"a": [1]} is 2): scalars add no level (as spec/GRAPH.md)."""
    depth, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return depth


def parse_metadata(payload: bytes, offset: int, limits: Limits) -> dict[str, Any]:
    if len(payload) > limits.max_metadata_bytes:
        raise MetadataError(
            f"{len(payload)} bytes > Limits.max_metadata_bytes={limits.max_metadata_bytes}", field="metadata", offset=offset
        )
    try:
        text = payload.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise MetadataError(f"not UTF-8 ({exc.reason} at byte {exc.start})", field="metadata", offset=offset) from None
    except json.JSONDecodeError as exc:
        raise MetadataError(f"invalid JSON: {exc.msg} at char {exc.pos}", field="metadata", offset=offset) from None
    except RecursionError:
        raise MetadataError("JSON nested too deeply", field="metadata", offset=offset) from None
    except MetadataError as exc:
        raise exc.with_context(offset=offset) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's int_max_str_digits
        raise MetadataError(f"unacceptable JSON value: {exc}", field="metadata", offset=offset) from None
    if not isinstance(value, dict):
        raise MetadataError("top level must be a JSON object", field="metadata", offset=offset)
    if _depth(value) > limits.max_json_depth:
        raise MetadataError(f"JSON nested deeper than {limits.max_json_depth}", field="metadata", offset=offset)
    return value
