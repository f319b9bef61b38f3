"""Transpose: axes permutation (spec/GRAPH.md §4). A view of its input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import MAX_RANK, PLAIN, UNARY, Attr, OpDef, Shape, is_perm
from ._shape import fail

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, perm = ins[0], node.attrs["perm"]
    if len(perm) != len(x):
        raise fail(node, f"perm {perm} does not match rank {len(x)}")
    return [tuple(x[p] for p in perm)]


def plan(P: Planner, n: LNode) -> None:
    x = P.need(n.inputs[0], PLAIN)
    perm = tuple(n.attrs["perm"])
    P.simple(n, [x], PLAIN, lambda a: a.transpose(perm), views=True)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Transpose", n.inputs, n.outputs, n.name, perm=n.attrs["perm"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    rank = len(imp.shapes[imp.val(ins[0])])
    imp.emit("Transpose", node, ins, perm=list(a.get("perm", list(range(rank))[::-1])))


OP = OpDef("Transpose", UNARY, attrs={"perm": Attr("ints", lo=0, hi=MAX_RANK - 1, length=(1, MAX_RANK), check=is_perm)},
           shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"Transpose": from_onnx})
