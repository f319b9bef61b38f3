"""The clamps ReLU, ReLU6 and Clip (spec/GRAPH.md §4): min(max(x, lo), hi) with fixed or given bounds.

A clamp after a Conv2d/Linear is applied in place by that layer (or by the
MaxPool after it: clipping commutes with max); alone it is one clip pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import UNARY, Attr, OpDef
from ._shape import same_shape

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K
    from ..inference.plan import bounds

    lo, hi = _CLAMPS[n.op].clip(n.attrs)  # type: ignore[misc]
    if lo is None and hi is None:
        P.unary(n, lambda x, out: x.copy() if out is None else out)
        return
    lo32, hi32 = bounds(lo, hi)
    P.unary(n, lambda x, out: K.CLIP(x, lo32, hi32, out=out))


def relu_to_onnx(ex: OnnxExporter, n: Node) -> None:
    ex.node("Relu", n.inputs, n.outputs, n.name)


def clip_to_onnx(ex: OnnxExporter, n: Node) -> None:
    """ONNX Clip (opset >= 11) takes its bounds as optional inputs; an absent bound is an empty name."""
    import numpy as np

    lo, hi = _CLAMPS[n.op].clip(n.attrs)  # type: ignore[misc]
    ins = [n.inputs[0], ex.const(lo, np.float32) if lo is not None else "", ex.const(hi, np.float32) if hi is not None else ""]
    while ins and ins[-1] == "":
        ins.pop()
    ex.node("Clip", ins, n.outputs, n.name)


def relu_from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    imp.emit("ReLU", node, ins)


def clip_from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    if imp.opset >= 11:
        lo = float(imp.const_of(node, ins[1])) if len(ins) > 1 and ins[1] else None
        hi = float(imp.const_of(node, ins[2])) if len(ins) > 2 and ins[2] else None
    else:
        lo, hi = a.get("min"), a.get("max")
    if lo == 0.0 and hi == 6.0:
        imp.emit("ReLU6", node, ins[:1])
    else:
        imp.emit("Clip", node, ins[:1], min=lo, max=hi)


def relu_from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    from ..errors import UnsupportedFeatureError

    if float(b.param(layer, "relu_param").get("negative_slope", 0.0)) != 0.0:
        raise UnsupportedFeatureError(f"layer {layer.name!r}: leaky ReLU has no graph operator")
    b.add("ReLU", layer, xs, {})


RELU = OpDef("ReLU", UNARY, shape=same_shape, plan=plan, to_onnx=relu_to_onnx, from_onnx={"Relu": relu_from_onnx},
             from_caffe={"ReLU": relu_from_caffe}, clip=lambda a: (0.0, None))
RELU6 = OpDef("ReLU6", UNARY, shape=same_shape, plan=plan, to_onnx=clip_to_onnx, clip=lambda a: (0.0, 6.0))
CLIP = OpDef("Clip", UNARY, attrs={"min": Attr("float?", None), "max": Attr("float?", None)}, shape=same_shape, plan=plan,
             to_onnx=clip_to_onnx, from_onnx={"Clip": clip_from_onnx}, clip=lambda a: (a["min"], a["max"]))
OPS = [RELU, RELU6, CLIP]
_CLAMPS = {op.name: op for op in OPS}
