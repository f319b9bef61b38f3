"""Concat: x₁ … xₖ joined along ``axis``, other dimensions equal (spec/GRAPH.md §4).

A channel Concat whose inputs are all dense/pointwise convs read only by it
(SqueezeNet's fire modules) lets them write straight into its buffer: no
concatenation copy, no separate bias pass, one activation pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._base import AXIS, NHWC, PLAIN, OpDef, Shape
from ._shape import axis, fail, same, total

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter

F32 = np.float32


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x = ins[0]
    ax = axis(node, node.attrs["axis"], len(x))
    out = list(x)
    for s in ins[1:]:
        if len(s) != len(x):
            raise fail(node, f"inputs have ranks {len(x)} and {len(s)}")
        for i in range(len(x)):
            if i != ax:
                out[i] = same(node, out[i], s[i], f"dimension {i}")
    out[ax] = total([s[ax] for s in ins])
    return [tuple(out)]


def plan(P: Planner, n: LNode) -> None:
    from ..inference.plan import TO_NHWC_AXIS

    out = n.outputs[0]
    r = P.rank(out)
    vals = [v for v in n.inputs if not P.is_const(v)]
    want = NHWC if r == 4 and any(P.layout[v] == NHWC for v in vals) else PLAIN
    keys = [P.const_key(v, want) if P.is_const(v) else P.need(v, want) for v in n.inputs]
    ax = n.attrs["axis"] % r
    if want == NHWC:
        ax = TO_NHWC_AXIS[ax]
        if ax == 3 and _fuse(P, n, keys):
            return

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            env[out] = np.concatenate([env[k] for k in keys], axis=ax)

        return run

    P.emit(n.name, keys, [out], want, make)


def _fuse(P: Planner, n: LNode, keys: list[str]) -> bool:
    """Let the convolutions feeding a channel Concat write straight into its buffer (their ``ConcatSlot``)."""
    from ..inference.plan import act_fn

    slots = [P.into_concat.get(k) for k in keys]
    if len(keys) < 2 or len(set(keys)) != len(keys):
        return False
    if any(s is None or s.target is not None or P.sole_reader.get(k) is not n for s, k in zip(slots, keys)):
        return False
    if len({s.act for s in slots}) != 1 or len({s.fast for s in slots}) != 1:
        return False
    out = n.outputs[0]
    buf = f"{out}\x00concat"
    ctot = sum(s.channels for s in slots)
    first = min(s.step for s in slots)
    c0 = 0
    for s in slots:
        s.target = (buf, c0, ctot, s.step == first)
        if not s.fast:
            bias = np.zeros(s.channels, F32) if s.bias is None else s.bias
            s.wb = np.concatenate([s.w, bias[None]], axis=0).astype(F32)  # weights + bias row (ones column)
        c0 += s.channels
    # the numba kernels apply each conv's activation as they write; the NumPy path does it here, once
    act = act_fn(None if all(s.fast for s in slots) else slots[0].act)

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            y = env[buf]
            act(y)
            env[out] = y

        return run

    P.emit(n.name, [buf], [out], NHWC, make, views={out: buf})
    return True


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Concat", n.inputs, n.outputs, n.name, axis=n.attrs["axis"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    imp.emit("Concat", node, ins, axis=int(a["axis"]))


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    b.add("Concat", layer, xs, {"axis": int(b.param(layer, "concat_param").get("axis", 1))})


OP = OpDef("Concat", (1, 1024), attrs={"axis": AXIS}, shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"Concat": from_onnx},
           from_caffe={"Concat": from_caffe})
