"""The JSON metadata block (META section, spec §6): canonical on write, strict on read."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .. import safejson
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


def parse_metadata(payload: bytes, offset: int, limits: Limits) -> dict[str, Any]:
    """Strict JSON (spec §7: the same rules as the graph's) whose top level is an object."""
    value = safejson.loads(
        payload,
        error=MetadataError,
        max_bytes=limits.max_metadata_bytes,
        max_nesting=limits.max_json_depth,
        field="metadata",
        offset=offset,
    )
    if not isinstance(value, dict):
        raise MetadataError("top level must be a JSON object", field="metadata", offset=offset)
    return value
