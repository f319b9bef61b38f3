"""Identity and Dropout (identity at inference; spec/GRAPH.md §4). The output is a view of the input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import PLAIN, UNARY, Attr, OpDef
from ._shape import same_shape

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def plan(P: Planner, n: LNode) -> None:
    key = P.source(n.inputs[0])
    P.simple(n, [key], P.layout.get(key, PLAIN), lambda a: a, views=True)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Identity", n.inputs, n.outputs, n.name)


def identity_from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    imp.emit("Identity", node, ins)


def cast_from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    """A Cast of a computed value to float32 (the only activation type) is an identity."""
    if int(a["to"]) != 1:
        raise imp.fail(node, f"Cast of a computed value to type {a['to']} is not supported")
    imp.emit("Identity", node, ins)


def dropout_from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise imp.fail(node, "Dropout mask output is not supported")
    imp.emit("Dropout", node, ins[:1], node.output[:1])


def dropout_from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    b.add("Dropout", layer, xs, {"ratio": float(b.param(layer, "dropout_param").get("dropout_ratio", 0.5))})


IDENTITY = OpDef("Identity", UNARY, shape=same_shape, plan=plan, to_onnx=to_onnx,
                 from_onnx={"Identity": identity_from_onnx, "Cast": cast_from_onnx})
DROPOUT = OpDef("Dropout", UNARY, attrs={"ratio": Attr("float", 0.5, lo=0.0, hi=1.0)}, shape=same_shape, plan=plan, to_onnx=to_onnx,
                from_onnx={"Dropout": dropout_from_onnx}, from_caffe={"Dropout": dropout_from_caffe})
OPS = [IDENTITY, DROPOUT]
