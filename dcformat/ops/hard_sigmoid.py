"""HardSigmoid: max(0, min(1, alpha·x + beta)) (spec/GRAPH.md §4; ONNX ``HardSigmoid``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import UNARY, Attr, OpDef
from ._shape import same_shape

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter, OnnxImporter


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K

    a, b = n.attrs["alpha"], n.attrs["beta"]
    P.unary(n, lambda x, out: K.hard_sigmoid(x, a, b, out=out))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("HardSigmoid", n.inputs, n.outputs, n.name, alpha=n.attrs["alpha"], beta=n.attrs["beta"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    imp.emit("HardSigmoid", node, ins, alpha=float(a.get("alpha", 0.2)), beta=float(a.get("beta", 0.5)))


OP = OpDef("HardSigmoid", UNARY, attrs={"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}, shape=same_shape, plan=plan,
           to_onnx=to_onnx, from_onnx={"HardSigmoid": from_onnx})
