"""The one rule for names in a file: tensor names (spec/FORMAT.md §4.1) and graph names (spec/GRAPH.md §2).

Both are non-empty UTF-8 strings without a control character (Unicode category
Cc: U+0000-U+001F, U+007F-U+009F). Their length limits are the spec's: a
tensor name is at most 1024 UTF-8 *bytes* (FORMAT.md §4.1, ``MAX_NAME_BYTES``
in ``container/format.py``); GRAPH.md §2 bounds every graph name (values and
nodes, not only stored tensors) at 1024 *characters* (``graph.core``), and a
graph name that refers to a stored tensor also has to match a table name, so
the byte limit holds for tensors either way.
"""

from __future__ import annotations

import unicodedata

from .container.format import MAX_NAME_BYTES


def name_problem(name: str, *, max_bytes: int | None = MAX_NAME_BYTES, max_chars: int | None = None) -> str | None:
    """Why ``name`` breaks the rule, or None; ``max_bytes``/``max_chars``: the limit of this kind of name."""
    if not name:
        return "is empty"
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (contains a lone surrogate)"
    if max_bytes is not None and len(raw) > max_bytes:
        return f"is {len(raw)} bytes long, limit {max_bytes}"
    if max_chars is not None and len(name) > max_chars:
        return f"is {len(name)} characters long, limit {max_chars}"
    for ch in name:
        if unicodedata.category(ch) == "Cc":
            return f"contains control character U+{ord(ch):04X}"
    return None


__all__ = ["MAX_NAME_BYTES", "name_problem"]
