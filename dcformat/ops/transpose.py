"""Transpose: axes permutation (spec/GRAPH.md §4). A view of its input."""

from __future__ import annotations

from typing import Any

from ._base import MAX_RANK, PLAIN, UNARY, Attr, OpDef, Shape, is_perm
from ._shape import fail


def shape(node: Any, ins: list[Shape]) -> list[Shape]:
    x, perm = ins[0], node.attrs["perm"]
    if len(perm) != len(x):
        raise fail(node, f"perm {perm} does not match rank {len(x)}")
    return [tuple(x[p] for p in perm)]


def plan(P: Any, n: Any) -> None:
    x = P.need(n.inputs[0], PLAIN)
    perm = tuple(n.attrs["perm"])
    P.simple(n, [x], PLAIN, lambda a: a.transpose(perm), views=True)


def to_onnx(ex: Any, n: Any) -> None:
    ex.node("Transpose", n.inputs, n.outputs, n.name, perm=n.attrs["perm"])


def from_onnx(imp: Any, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    rank = len(imp.shapes[imp.val(ins[0])])
    imp.emit("Transpose", node, ins, perm=list(a.get("perm", list(range(rank))[::-1])))


OP = OpDef("Transpose", UNARY, attrs={"perm": Attr("ints", lo=0, hi=MAX_RANK - 1, length=(1, MAX_RANK), check=is_perm)},
           shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"Transpose": from_onnx})
