"""The closed set of graph operators and the attributes each one accepts.

One table drives validation, canonical serialisation (defaults are filled in
so that equal graphs give equal bytes) and the error messages, so the spec
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
_REQUIRED = object()  # marks an attribute without a default
LRN_MAX_SIZE = 1023  # channels in one LRN window
LRN_MIN_BIAS = 1e-6  # keeps LRN's base bias + alpha/size * sum(x^2) away from 0


@dataclass(frozen=True)
class Attr:
    """One attribute: a kind ('int', 'float', 'float?', 'bool', 'ints') with range limits."""

    kind: str
    default: Any = _REQUIRED
    lo: float | None = None  # inclusive lower bound (per element for 'ints')
    hi: float | None = None  # inclusive upper bound
    length: tuple[int, int] | None = None  # allowed list length range for 'ints'
    check: Callable[[Any], str | None] | None = None  # extra rule ('int', 'ints'); returns a complaint

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class OpSpec:
    """Arity, which inputs must be stored tensors, and the attribute table of one op."""

    name: str
    inputs: tuple[int, int]  # min, max number of inputs
    outputs: tuple[int, int] = (1, 1)
    const_inputs: frozenset[int] = frozenset()  # input positions that must name stored tensors
    attrs: dict[str, Attr] = field(default_factory=dict)
    since: int = 1  # first graph_version that has this op (spec/GRAPH.md §7)


def _is_perm(v: list[int]) -> str | None:
    return None if sorted(v) == list(range(len(v))) else "is not a permutation of 0..n-1"


def _is_odd(v: int) -> str | None:
    return None if v % 2 else "must be odd (a window centred on each channel, as ONNX runtimes and Caffe require)"


def _reshape_rule(v: list[int]) -> str | None:
    return "has more than one -1" if v.count(-1) > 1 else None


def _pair(default: Any = _REQUIRED, lo: int = 1) -> Attr:
    return Attr("ints", default, lo=lo, hi=MAX_DIM, length=(2, 2))


def _pads() -> Attr:
    return Attr("ints", [0, 0, 0, 0], lo=0, hi=MAX_DIM, length=(4, 4))


_AXIS = Attr("int", _REQUIRED, lo=-MAX_RANK, hi=MAX_RANK - 1)
_UNARY = (1, 1)

_POOL = {
    "kernel": _pair(),
    "stride": _pair([1, 1]),
    "padding": _pads(),
    "ceil_mode": Attr("bool", False),
}

OPS: dict[str, OpSpec] = {
    s.name: s
    for s in [
        OpSpec(
            "Conv2d",
            (2, 3),
            const_inputs=frozenset({1, 2}),
            attrs={
                "stride": _pair([1, 1]),
                "padding": _pads(),
                "dilation": _pair([1, 1]),
                "groups": Attr("int", 1, lo=1, hi=MAX_DIM),
            },
        ),
        OpSpec("Linear", (2, 3), const_inputs=frozenset({1, 2})),
        OpSpec("MatMul", (2, 2)),
        OpSpec(
            "BatchNorm",
            (5, 5),
            const_inputs=frozenset({1, 2, 3, 4}),
            attrs={"epsilon": Attr("float", 1e-5, lo=0.0, hi=1.0)},
        ),
        OpSpec("ReLU", _UNARY),
        OpSpec("ReLU6", _UNARY),
        OpSpec("Clip", _UNARY, attrs={"min": Attr("float?", None), "max": Attr("float?", None)}),
        OpSpec("HardSwish", _UNARY),
        OpSpec("HardSigmoid", _UNARY, attrs={"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}),
        OpSpec("Sigmoid", _UNARY),
        OpSpec(
            "LRN",
            _UNARY,
            attrs={
                "size": Attr("int", _REQUIRED, lo=1, hi=LRN_MAX_SIZE, check=_is_odd),
                "alpha": Attr("float", 1e-4, lo=0.0),
                "beta": Attr("float", 0.75, lo=0.0),
                "bias": Attr("float", 1.0, lo=LRN_MIN_BIAS),
            },
            since=2,
        ),
        OpSpec("Softmax", _UNARY, attrs={"axis": Attr("int", -1, lo=-MAX_RANK, hi=MAX_RANK - 1)}),
        OpSpec("MaxPool", _UNARY, attrs=dict(_POOL)),
        OpSpec("AvgPool", _UNARY, attrs={**_POOL, "count_include_pad": Attr("bool", False)}),
        OpSpec("GlobalAvgPool", _UNARY),
        OpSpec("Concat", (1, 1024), attrs={"axis": _AXIS}),
        OpSpec("Split", _UNARY, outputs=(1, MAX_INTS), attrs={"axis": _AXIS, "split": Attr("ints", lo=0, hi=MAX_DIM, length=(1, MAX_INTS))}),
        OpSpec("Add", (2, 2)),
        OpSpec("Sub", (2, 2)),
        OpSpec("Mul", (2, 2)),
        OpSpec("Div", (2, 2)),
        OpSpec("ChannelShuffle", _UNARY, attrs={"groups": Attr("int", lo=1, hi=MAX_DIM)}),
        OpSpec("Flatten", _UNARY, attrs={"axis": Attr("int", 1, lo=-MAX_RANK, hi=MAX_RANK)}),
        OpSpec(
            "Reshape",
            _UNARY,
            attrs={"shape": Attr("ints", lo=-1, hi=MAX_DIM, length=(0, MAX_RANK), check=_reshape_rule)},
        ),
        OpSpec("Transpose", _UNARY, attrs={"perm": Attr("ints", lo=0, hi=MAX_RANK - 1, length=(1, MAX_RANK), check=_is_perm)}),
        OpSpec("Dropout", _UNARY, attrs={"ratio": Attr("float", 0.5, lo=0.0, hi=1.0)}),
        OpSpec("Identity", _UNARY),
    ]
}


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


def canonical_attrs(op: str, node: str, attrs: Any) -> dict[str, Any]:
    """Validate a node's attribute object and fill in defaults (canonical form)."""
    spec = OPS.get(op)
    if spec is None:
        raise GraphError(f"node {node!r}: unknown op {op!r}", field="op")
    if not isinstance(attrs, dict):
        raise GraphError(f"node {node!r} ({op}): 'attrs' must be an object", field="attrs")
    for key in attrs:
        if key not in spec.attrs:
            raise GraphError(f"node {node!r} ({op}): unknown attribute {key!r}", field="attrs")
    out: dict[str, Any] = {}
    for key, a in spec.attrs.items():
        if key in attrs:
            out[key] = check_attr(op, node, key, a, attrs[key])
        elif a.required:
            raise GraphError(f"node {node!r} ({op}): missing required attribute {key!r}", field="attrs")
        else:
            out[key] = list(a.default) if isinstance(a.default, list) else a.default
    return out
