"""LRN (graph schema 2): local response normalisation across channels, as ONNX ``LRN`` and Caffe's ``ACROSS_CHANNELS``.

y = x / (bias + alpha/size · s)^beta with s the sum of x² over the ``size``
channels centred on each one (spec/GRAPH.md §4). ``since=2``: a graph using
it declares graph_version 2; graphs without it are still written as version 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import LRN_MAX_SIZE, LRN_MIN_BIAS, NHWC, REQUIRED, UNARY, Attr, OpDef, Shape, is_odd
from ._shape import rank

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    rank(node, ins[0], 4)
    return [ins[0]]


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K

    a = n.attrs
    x = P.need(n.inputs[0], NHWC)
    P.simple(n, [x], NHWC, lambda t: K.lrn_channels_last(t, a["size"], a["alpha"], a["beta"], a["bias"]))


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    a = n.attrs
    ex.node("LRN", n.inputs, n.outputs, n.name, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"])


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    if len(imp.shapes[imp.val(ins[0])]) != 4:
        raise imp.fail(node, "LRN is supported on (N, C, H, W) inputs only")
    imp.emit("LRN", node, ins, size=int(a["size"]), alpha=float(a.get("alpha", 1e-4)),
             beta=float(a.get("beta", 0.75)), bias=float(a.get("bias", 1.0)))


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    from ..errors import UnsupportedFeatureError

    lp = b.param(layer, "lrn_param")
    if str(lp.get("norm_region", "ACROSS_CHANNELS")) not in ("ACROSS_CHANNELS", "0"):
        raise UnsupportedFeatureError(f"layer {layer.name!r}: LRN within channels has no graph operator")
    attrs = {"size": int(lp.get("local_size", 5)), "alpha": float(lp.get("alpha", 1.0)),
             "beta": float(lp.get("beta", 0.75)), "bias": float(lp.get("k", 1.0))}
    b.add("LRN", layer, xs, attrs)


OP = OpDef(
    "LRN",
    UNARY,
    attrs={
        "size": Attr("int", REQUIRED, lo=1, hi=LRN_MAX_SIZE, check=is_odd),
        "alpha": Attr("float", 1e-4, lo=0.0),
        "beta": Attr("float", 0.75, lo=0.0),
        "bias": Attr("float", 1.0, lo=LRN_MIN_BIAS),
    },
    since=2,
    shape=shape,
    plan=plan,
    to_onnx=to_onnx,
    from_onnx={"LRN": from_onnx},
    from_caffe={"LRN": from_caffe},
)
