"""Split: consecutive slices of ``split`` sizes along ``axis``, one per output (spec/GRAPH.md §4). Outputs are views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._base import AXIS, MAX_DIM, MAX_INTS, NHWC, PLAIN, UNARY, Attr, OpDef, Shape
from ._shape import axis, same

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, a = ins[0], node.attrs
    ax = axis(node, a["axis"], len(x))
    same(node, x[ax], sum(a["split"]), f"sum of split sizes vs dimension {ax}")
    return [tuple(x[:ax]) + (k,) + tuple(x[ax + 1 :]) for k in a["split"]]


def plan(P: Planner, n: LNode) -> None:
    from ..inference.plan import TO_NHWC_AXIS

    v = n.inputs[0]
    key = P.source(v)
    lay = P.layout.get(key, PLAIN)
    r = P.rank(v)
    ax = n.attrs["axis"] % r
    if lay == NHWC and r == 4:
        ax = TO_NHWC_AXIS[ax]
    bounds = np.cumsum([0] + n.attrs["split"]).tolist()
    outs = list(n.outputs)

    def make(_reuse: int | None) -> Callable[[Any], None]:
        def run(env: Any) -> None:
            a = env[key]
            idx = [slice(None)] * a.ndim
            for o, lo, hi in zip(outs, bounds[:-1], bounds[1:]):
                idx[ax] = slice(lo, hi)
                env[o] = a[tuple(idx)]

        return run

    P.emit(n.name, [key], outs, lay, make, views={o: key for o in outs})


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Split", [n.inputs[0], ex.const(n.attrs["split"])], n.outputs, n.name, axis=n.attrs["axis"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    """Sizes from the attribute (opset < 13), the second input, or equal parts."""
    ax = int(a.get("axis", 0))
    if "split" in a:
        sizes = list(a["split"])
    elif len(ins) > 1 and ins[1]:
        sizes = [int(s) for s in imp.const_of(node, ins[1]).reshape(-1)]
    else:
        dim = imp.shapes[imp.val(ins[0])][ax]
        if not isinstance(dim, int) or dim % len(node.output):
            raise imp.fail(node, "cannot infer equal split sizes")
        sizes = [dim // len(node.output)] * len(node.output)
    imp.emit("Split", node, ins[:1], axis=ax, split=sizes)


OP = OpDef("Split", UNARY, outputs=(1, MAX_INTS), attrs={"axis": AXIS, "split": Attr("ints", lo=0, hi=MAX_DIM, length=(1, MAX_INTS))},
           shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"Split": from_onnx})
