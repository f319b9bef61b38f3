"""The JSON metadata block (META section, spec §7): canonical on write, strict on read (both via ``safejson``)."""

from __future__ import annotations

from typing import Any, Mapping

from .. import safejson
from ..errors import MetadataError
from ..limits import Limits


def build_metadata(metadata: Mapping[str, Any]) -> bytes:
    """Canonical JSON (``safejson.dumps``) of a mapping; ValueError names what cannot be serialised."""
    if not isinstance(metadata, Mapping):
        raise ValueError("metadata must be a mapping with str keys")
    try:
        return safejson.dumps(dict(metadata))
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
