"""The closed set of graph operators (spec/GRAPH.md §4) and their attribute validation.

Each op is defined once, in its own module under :mod:`dcformat.ops`; this
module is the graph layer's view of that registry: ``OPS`` maps op names to
their definitions, and :func:`canonical_attrs` validates a node's attributes
and fills in defaults (so equal graphs give equal bytes).
"""

from __future__ import annotations

from ..ops import OPS, canonical_attrs
from ..ops._base import LRN_MAX_SIZE, LRN_MIN_BIAS, MAX_DIM, MAX_INTS, MAX_RANK, Attr, OpDef, OpSpec, check_attr

__all__ = ["OPS", "Attr", "OpDef", "OpSpec", "canonical_attrs", "check_attr", "MAX_DIM", "MAX_INTS", "MAX_RANK", "LRN_MAX_SIZE", "LRN_MIN_BIAS"]
