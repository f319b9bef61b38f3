"""MaxPool and AvgPool over (N, C, H, W) windows, floor or ceil mode (spec/GRAPH.md §4, §4.1).

MaxPool ignores padded positions; AvgPool divides by the positions inside the
input (or inside the padded input with count_include_pad). One compiled pass
with the numba kernels (out-of-range taps are skipped, which is the padding
rule); else a separable NumPy reduction over a padded copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import NHWC, POOL_ATTRS, UNARY, Attr, OpDef, Shape
from ._shape import pool_out, rank

if TYPE_CHECKING:
    from ..graph.core import Node
    from ..inference.fold import LNode
    from ..inference.plan import Planner
    from ..legacy.caffe import Layer
    from ..legacy.graph import CaffeBuilder
    from ..onnx_io import OnnxExporter, OnnxImporter

F32 = np.float32


def shape(node: Node, ins: list[Shape]) -> list[Shape]:
    x, a = ins[0], node.attrs
    rank(node, x, 4)
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["stride"], a["padding"]
    c = a["ceil_mode"]
    return [(x[0], x[1], pool_out(node, x[2], kh, sh, pt, pb, c), pool_out(node, x[3], kw, sw, pl, pr, c))]


def plan(P: Planner, n: LNode) -> None:
    from ..inference import kernels as K
    from ..inference.plan import act_fn, clip_bounds

    (kh, kw), stride, pads, ceil = n.attrs["kernel"], tuple(n.attrs["stride"]), tuple(n.attrs["padding"]), n.attrs["ceil_mode"]
    is_max = n.op == "MaxPool"
    act = act_fn(n.act)
    include_pad = n.attrs.get("count_include_pad", False)
    x = P.need(n.inputs[0], NHWC)
    counts: dict[tuple[int, int], np.ndarray] = {}

    def geometry(h: int, w: int) -> tuple[int, int, tuple[int, int]]:
        oh = pool_out(n, h, kh, stride[0], pads[0], pads[2], ceil)
        ow = pool_out(n, w, kw, stride[1], pads[1], pads[3], ceil)
        extra = (max(0, (oh - 1) * stride[0] + kh - (h + pads[0] + pads[2])), max(0, (ow - 1) * stride[1] + kw - (w + pads[1] + pads[3])))
        return oh, ow, extra

    def divisor(h: int, w: int) -> np.ndarray:
        if (h, w) not in counts:
            oh, ow, extra = geometry(h, w)
            if include_pad:
                ones = np.ones((1, h + pads[0] + pads[2], w + pads[1] + pads[3], 1), F32)
                cp = K.pad_nhwc(ones, (0, 0, 0, 0), 0.0, extra)
            else:
                cp = K.pad_nhwc(np.ones((1, h, w, 1), F32), pads, 0.0, extra)
            counts[(h, w)] = K.sum_pool(cp, oh, ow, (kh, kw), stride)
        return counts[(h, w)]

    F = K.fast_kernels()
    lo, hi = clip_bounds(n.act)

    def pool(a: np.ndarray) -> np.ndarray:
        _, h, w, _ = a.shape
        oh, ow, extra = geometry(h, w)
        if F is not None and a.shape[3] >= F.LANES:  # one compiled pass; out-of-range taps are skipped, which is the padding rule
            return F.pool(np.ascontiguousarray(a), (kh, kw), stride, pads, oh, ow, None if is_max else divisor(h, w), lo, hi)
        if is_max:
            y = K.max_pool(K.pad_nhwc(a, pads, -np.inf, extra), oh, ow, (kh, kw), stride)
            act(y)
            return y
        y = K.sum_pool(K.pad_nhwc(a, pads, 0.0, extra), oh, ow, (kh, kw), stride)
        y /= divisor(h, w)
        return y

    P.simple(n, [x], NHWC, pool)


def to_onnx(ex: OnnxExporter, n: Node) -> None:
    a = n.attrs
    kw = dict(kernel_shape=a["kernel"], strides=a["stride"], pads=a["padding"], ceil_mode=int(a["ceil_mode"]))
    if n.op == "AvgPool":
        kw["count_include_pad"] = int(a["count_include_pad"])
    ex.node("MaxPool" if n.op == "MaxPool" else "AveragePool", n.inputs, n.outputs, n.name, **kw)


def from_onnx(imp: OnnxImporter, node: Any, a: dict[str, Any], ins: list[str]) -> None:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise imp.fail(node, f"auto_pad={a['auto_pad']!r} is not supported")
    if any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("storage_order", 0):
        raise imp.fail(node, "pool dilations / storage_order are not supported")
    if len(node.output) > 1 and node.output[1]:
        raise imp.fail(node, "MaxPool indices output is not supported")
    kw = dict(kernel=list(a["kernel_shape"]), stride=list(a.get("strides", [1, 1])), padding=list(a.get("pads", [0, 0, 0, 0])),
              ceil_mode=bool(a.get("ceil_mode", 0)))
    if node.op_type == "AveragePool":
        kw["count_include_pad"] = bool(a.get("count_include_pad", 0))
    imp.emit("MaxPool" if node.op_type == "MaxPool" else "AvgPool", node, ins, node.output[:1], **kw)


def from_caffe(b: CaffeBuilder, layer: Layer, xs: list[str]) -> None:
    """Caffe's Pooling: MAX or AVE windows in ceil mode, or global average pooling."""
    from ..errors import UnsupportedFeatureError

    p = b.param(layer, "pooling_param")
    kind = str(p.get("pool", "MAX"))
    kind = {"0": "MAX", "1": "AVE"}.get(kind, kind)
    if p.get("global_pooling", False):
        if kind != "AVE":
            raise UnsupportedFeatureError(f"layer {layer.name!r}: global {kind} pooling has no graph operator")
        b.add("GlobalAvgPool", layer, xs, {})
        return
    (kh, kw), (sh, sw), (ph, pw) = b.pair(p, "kernel", 0), b.pair(p, "stride", 1), b.pair(p, "pad", 0)
    attrs = {"kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw, ph, pw], "ceil_mode": True}
    if kind == "MAX":
        b.add("MaxPool", layer, xs, attrs)
    elif kind == "AVE":
        b.add("AvgPool", layer, xs, {**attrs, "count_include_pad": True})  # Caffe divides by the window clipped to the padded input
    else:
        raise UnsupportedFeatureError(f"layer {layer.name!r}: {kind} pooling has no graph operator")


MAX_POOL = OpDef("MaxPool", UNARY, attrs=dict(POOL_ATTRS), shape=shape, plan=plan, to_onnx=to_onnx, from_onnx={"MaxPool": from_onnx},
                 from_caffe={"Pooling": from_caffe}, commutes_with_clip=True)
AVG_POOL = OpDef("AvgPool", UNARY, attrs={**POOL_ATTRS, "count_include_pad": Attr("bool", False)}, shape=shape, plan=plan,
                 to_onnx=to_onnx, from_onnx={"AveragePool": from_onnx})
OPS = [MAX_POOL, AVG_POOL]
