"""What every op module shares: the attribute kinds and their checks, the limits, and :class:`OpDef`.

An op module (``dcformat/ops/<op>.py``) declares its attribute table with
:class:`Attr` and its behaviour as the rules of an :class:`OpDef`; the
attribute table drives validation, canonical serialisation (defaults filled
in, so equal graphs give equal bytes) and the error messages, so the spec
(spec/GRAPH.md §4) and the code cannot drift apart silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import GraphError

MAX_RANK = 8  # largest tensor rank any attribute or shape may describe
MAX_DIM = 2**31 - 1  # largest shape entry / size attribute
MAX_INTS = 64  # longest integer-list attribute (e.g. Split sizes)
REQUIRED = object()  # marks an attribute without a default
LRN_MAX_SIZE = 1023  # channels in one LRN window
LRN_MIN_BIAS = 1e-6  # keeps LRN's base bias + alpha/size * sum(x^2) away from 0


@dataclass(frozen=True)
class Attr:
    """One attribute: a kind ('int', 'float', 'float?', 'bool', 'ints') with range limits."""

    kind: str
    default: Any = REQUIRED
    lo: float | None = None  # inclusive lower bound (per element for 'ints')
    hi: float | None = None  # inclusive upper bound
    length: tuple[int, int] | None = None  # allowed list length range for 'ints'
    check: Callable[[Any], str | None] | None = None  # extra rule ('int', 'ints'); returns a complaint

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


Shape = tuple[Any, ...]  # a value's shape: ints, symbols ("N") or None (see dcformat.graph.core.Dim)


@dataclass(frozen=True)
class OpDef:
    """Everything about one op, in one place: what a file may say, and what each layer of the library does with it.

    The schema part (arity, stored inputs, attribute table, first graph_version)
    is what a reader validates (spec/GRAPH.md §4, §7). The rules are called
    by shape inference, the inference planner, load-time folding and the ONNX
    and Caffe converters, which dispatch on the op name instead of keeping
    their own if/elif chains.
    """

    name: str
    inputs: tuple[int, int]  # min, max number of inputs
    outputs: tuple[int, int] = (1, 1)
    const_inputs: frozenset[int] = frozenset()  # input positions that must name stored tensors
    attrs: dict[str, Attr] = field(default_factory=dict)
    since: int = 1  # first graph_version that has this op (spec/GRAPH.md §7); writers declare the oldest that fits
    shape: Callable[[Any, list[Shape]], list[Shape]] | None = None  # (node, input shapes) -> output shapes
    plan: Callable[[Any, Any], None] | None = None  # (Planner, LNode): emit the NumPy / compiled steps
    to_onnx: Callable[[Any, Any], None] | None = None  # (ONNX exporter, Node): append ONNX nodes
    from_onnx: dict[str, Callable[..., None]] = field(default_factory=dict)  # ONNX op_type -> (importer, node, attrs, inputs)
    from_caffe: dict[str, Callable[..., None]] = field(default_factory=dict)  # Caffe layer type -> (builder, layer, inputs)
    fold: Callable[[Any, Any, dict[str, Any]], bool] | None = None  # (layer LNode, this LNode, consts): absorbed into the layer?
    clip: Callable[[dict[str, Any]], tuple[float | None, float | None]] | None = None  # a clamp: its (lo, hi) from attrs
    layer: bool = False  # weight (input 1) and optional bias (input 2) are stored: folding and the planner take them apart
    commutes_with_clip: bool = False  # max(clip(x)) == clip(max(x)): a clamp before it may run on its (smaller) output


OpSpec = OpDef  # the name the graph layer used before the registry


def is_perm(v: list[int]) -> str | None:
    return None if sorted(v) == list(range(len(v))) else "is not a permutation of 0..n-1"


def is_odd(v: int) -> str | None:
    return None if v % 2 else "must be odd (a window centred on each channel, as ONNX runtimes and Caffe require)"


def reshape_rule(v: list[int]) -> str | None:
    return "has more than one -1" if v.count(-1) > 1 else None


def pair(default: Any = REQUIRED, lo: int = 1) -> Attr:
    return Attr("ints", default, lo=lo, hi=MAX_DIM, length=(2, 2))


def pads() -> Attr:
    return Attr("ints", [0, 0, 0, 0], lo=0, hi=MAX_DIM, length=(4, 4))


AXIS = Attr("int", REQUIRED, lo=-MAX_RANK, hi=MAX_RANK - 1)
UNARY = (1, 1)

POOL_ATTRS = {
    "kernel": pair(),
    "stride": pair([1, 1]),
    "padding": pads(),
    "ceil_mode": Attr("bool", False),
}

NHWC, PLAIN = "nhwc", "plain"  # the planner's two buffer layouts of a rank-4 value (logical NCHW either way)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_attr(op: str, node: str, key: str, spec: Attr, value: Any) -> Any:
    """Return the canonical form of one attribute value or raise GraphError naming it."""

    def bad(why: str) -> GraphError:
        return GraphError(f"node {node!r} ({op}): attribute {key!r} {why}", field="attrs")

    def in_range(x: float) -> bool:
        return (spec.lo is None or x >= spec.lo) and (spec.hi is None or x <= spec.hi)

    if spec.kind == "int":
        if not _is_int(value):
            raise bad(f"must be an integer, got {type(value).__name__}")
        if not in_range(value):
            raise bad(f"= {value} is outside [{spec.lo}, {spec.hi}]")
        why = spec.check(value) if spec.check is not None else None
        if why:
            raise bad(why)
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad(f"must be true or false, got {type(value).__name__}")
        return value
    if spec.kind in ("float", "float?"):
        if value is None and spec.kind == "float?":
            return None
        if not (_is_int(value) or isinstance(value, float)):
            raise bad(f"must be a number, got {type(value).__name__}")
        f = float(value)
        if not math.isfinite(f) or not in_range(f):
            raise bad(f"= {value!r} is not finite or outside [{spec.lo}, {spec.hi}]")
        return f
    if spec.kind == "ints":
        if not isinstance(value, list):
            raise bad(f"must be a list of integers, got {type(value).__name__}")
        lo_n, hi_n = spec.length or (0, MAX_INTS)
        if not lo_n <= len(value) <= hi_n:
            raise bad(f"must have {lo_n}..{hi_n} entries, got {len(value)}")
        for x in value:
            if not _is_int(x):
                raise bad(f"must contain only integers, got {type(x).__name__}")
            if not in_range(x):
                raise bad(f"entry {x} is outside [{spec.lo}, {spec.hi}]")
        if spec.check is not None:
            why = spec.check(value)
            if why:
                raise bad(why)
        return list(value)
    raise AssertionError(f"unknown attribute kind {spec.kind}")  # pragma: no cover - table bug


def emit_as(op: str) -> Callable[..., None]:
    """The ONNX import rule of an op that maps one to one, inputs and attributes unchanged."""

    def rule(imp: Any, node: Any, a: dict[str, Any], ins: list[str]) -> None:
        imp.emit(op, node, ins)

    return rule
