"""What a Caffe deploy prototxt means: layers, blob shapes and parameter shapes.

The authors' ``.net`` files carry no shapes, names or bit widths; all of that
comes from the prototxt (PAPER.md §2.1). This module walks the layers in file
order, infers every blob's shape with Caffe's own rules (convolution floors,
pooling ceils), and lists each parametrised layer's weight and bias shapes.
Only the layer types of the classic image nets are understood; anything else
is a clear error rather than a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError, UnsupportedFeatureError
from ..ops._shape import conv_output_size
from .prototxt import Enum, Message, PrototxtError, parse

# Old (V1, "layers { type: CONVOLUTION }") names -> current names.
_V1_TYPES = {
    "CONVOLUTION": "Convolution", "INNER_PRODUCT": "InnerProduct", "POOLING": "Pooling", "RELU": "ReLU",
    "DROPOUT": "Dropout", "CONCAT": "Concat", "LRN": "LRN", "SOFTMAX": "Softmax", "FLATTEN": "Flatten",
    "SPLIT": "Split", "SIGMOID": "Sigmoid", "TANH": "TanH",
}
MAX_DIM = 1 << 31


@dataclass(frozen=True)
class Layer:
    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Message  # the whole layer message, for *_param lookups


@dataclass(frozen=True)
class ParamShapes:
    """Shapes of one parametrised layer's blobs, in Caffe's (out, in/group, kh, kw) order."""

    layer: str
    type: str
    weight: tuple[int, ...]
    bias: tuple[int, ...] | None


@dataclass
class CaffeNet:
    name: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[Layer]
    shapes: dict[str, tuple[int, ...]]  # blob name -> shape (after in-place layers too)
    params: list[ParamShapes]  # in layer order, i.e. the order of Caffe's net.params


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_DIM:
        raise PrototxtError(f"{what} must be a non-negative integer, got {v!r}")
    return v


def _pair(p: Message, name: str, default: int) -> tuple[int, int]:
    """Caffe's kernel/stride/pad rule: ``x_h``/``x_w`` win, else repeated ``x`` (1 or 2 values).

    The repeated field is ``kernel_size`` for the kernel, ``stride``/``pad``/``dilation`` otherwise.
    """
    h, w = p.get(f"{name}_h"), p.get(f"{name}_w")
    if h is not None or w is not None:
        if h is None or w is None:
            raise PrototxtError(f"{name}_h and {name}_w must be given together")
        return _int(h, f"{name}_h"), _int(w, f"{name}_w")
    repeated = "kernel_size" if name == "kernel" else name
    vals = [_int(v, repeated) for v in p.get_all(repeated)]
    if not vals:
        return default, default
    if len(vals) == 1:
        return vals[0], vals[0]
    if len(vals) == 2:
        return vals[0], vals[1]
    raise PrototxtError(f"{name} has {len(vals)} values; 2-D layers take 1 or 2")


def _param(layer: Layer, key: str) -> Message:
    msgs = layer.params.messages(key)
    return msgs[-1] if msgs else Message()


def _conv_shape(layer: Layer, x: tuple[int, ...]) -> tuple[tuple[int, ...], ParamShapes]:
    p = _param(layer, "convolution_param")
    if len(x) != 4:
        raise PrototxtError(f"layer {layer.name!r}: convolution input must be NCHW, got {x}")
    n_out = _int(p.get("num_output"), "num_output")
    kh, kw = _pair(p, "kernel", 0)
    sh, sw = _pair(p, "stride", 1)
    ph, pw = _pair(p, "pad", 0)
    dh, dw = _pair(p, "dilation", 1)
    group = _int(p.get("group", 1), "group")
    if kh < 1 or kw < 1 or sh < 1 or sw < 1 or dh < 1 or dw < 1 or group < 1:
        raise PrototxtError(f"layer {layer.name!r}: kernel, stride, dilation and group must be >= 1")
    if x[1] % group or n_out % group:
        raise PrototxtError(f"layer {layer.name!r}: channels {x[1]}/{n_out} not divisible by group {group}")
    oh = conv_output_size(x[2], kh, sh, ph, ph, dh)
    ow = conv_output_size(x[3], kw, sw, pw, pw, dw)
    if oh < 1 or ow < 1:
        raise PrototxtError(f"layer {layer.name!r}: kernel larger than its padded input {x}")
    bias = (n_out,) if p.get("bias_term", True) else None
    return (x[0], n_out, oh, ow), ParamShapes(layer.name, layer.type, (n_out, x[1] // group, kh, kw), bias)


def _ip_shape(layer: Layer, x: tuple[int, ...]) -> tuple[tuple[int, ...], ParamShapes]:
    p = _param(layer, "inner_product_param")
    n_out = _int(p.get("num_output"), "num_output")
    axis = p.get("axis", 1)
    if not isinstance(axis, int) or not -len(x) <= axis < len(x):
        raise PrototxtError(f"layer {layer.name!r}: bad axis {axis!r}")
    axis %= len(x)
    n_in = math.prod(x[axis:])
    bias = (n_out,) if p.get("bias_term", True) else None
    return (*x[:axis], n_out), ParamShapes(layer.name, layer.type, (n_out, n_in), bias)


def pool_output(size: int, kernel: int, stride: int, pad: int) -> int:
    """Caffe's pooling size: ceil division, minus one if the last window starts in the padding."""
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_shape(layer: Layer, x: tuple[int, ...]) -> tuple[int, ...]:
    p = _param(layer, "pooling_param")
    if len(x) != 4:
        raise PrototxtError(f"layer {layer.name!r}: pooling input must be NCHW, got {x}")
    if p.get("global_pooling", False):
        return (x[0], x[1], 1, 1)
    kh, kw = _pair(p, "kernel", 0)
    sh, sw = _pair(p, "stride", 1)
    ph, pw = _pair(p, "pad", 0)
    if kh < 1 or kw < 1 or sh < 1 or sw < 1:
        raise PrototxtError(f"layer {layer.name!r}: kernel and stride must be >= 1")
    oh, ow = pool_output(x[2], kh, sh, ph), pool_output(x[3], kw, sw, pw)
    if oh < 1 or ow < 1:
        raise PrototxtError(f"layer {layer.name!r}: pooling window larger than input {x}")
    return (x[0], x[1], oh, ow)


def _inputs(net: Message) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    names = [str(n) for n in net.get_all("input")]
    dims = [_int(d, "input_dim") for d in net.get_all("input_dim")]
    shapes = [tuple(_int(d, "dim") for d in s.get_all("dim")) for s in net.messages("input_shape")]
    if dims:
        if len(dims) != 4 * len(names):
            raise PrototxtError("input_dim must give 4 values per input")
        shapes = [tuple(dims[4 * i : 4 * i + 4]) for i in range(len(names))]
    if len(shapes) != len(names):
        raise PrototxtError("every input needs a shape (input_dim or input_shape)")
    out.update(zip(names, shapes))
    return out


def parse_net(text: str | bytes) -> CaffeNet:
    """Parse a deploy prototxt and infer blob and parameter shapes."""
    msg = parse(text)
    inputs = _inputs(msg)
    layer_msgs = msg.messages("layer") or msg.messages("layers")
    layers: list[Layer] = []
    shapes = dict(inputs)
    params: list[ParamShapes] = []
    for lm in layer_msgs:
        raw_type = lm.get("type")
        ltype = _V1_TYPES.get(str(raw_type), str(raw_type)) if raw_type is not None else ""
        layer = Layer(
            name=str(lm.get("name", "")), type=ltype,
            bottoms=tuple(str(b) for b in lm.get_all("bottom")), tops=tuple(str(t) for t in lm.get_all("top")),
            params=lm,
        )
        if ltype == "Input":
            ip = _param(layer, "input_param")
            for top, s in zip(layer.tops, ip.messages("shape")):
                shapes[top] = tuple(_int(d, "dim") for d in s.get_all("dim"))
            layers.append(layer)
            continue
        for b in layer.bottoms:
            if b not in shapes:
                raise PrototxtError(f"layer {layer.name!r}: bottom {b!r} is not produced by any earlier layer")
        xs = [shapes[b] for b in layer.bottoms]
        if not xs or not layer.tops:
            raise PrototxtError(f"layer {layer.name!r} needs a bottom and a top")
        if ltype == "Convolution":
            y, ps = _conv_shape(layer, xs[0])
            params.append(ps)
        elif ltype == "InnerProduct":
            y, ps = _ip_shape(layer, xs[0])
            params.append(ps)
        elif ltype == "Pooling":
            y = _pool_shape(layer, xs[0])
        elif ltype in ("ReLU", "Dropout", "LRN", "Softmax", "Sigmoid", "TanH", "Split"):
            y = xs[0]
        elif ltype == "Concat":
            axis = _param(layer, "concat_param").get("axis", 1)
            if any(len(s) != len(xs[0]) for s in xs) or not isinstance(axis, int) or not 0 <= axis < len(xs[0]):
                raise PrototxtError(f"layer {layer.name!r}: concat inputs {xs} do not match")
            y = tuple(sum(s[axis] for s in xs) if i == axis else d for i, d in enumerate(xs[0]))
        elif ltype == "Flatten":
            y = (xs[0][0], math.prod(xs[0][1:]))
        else:
            raise UnsupportedFeatureError(f"layer {layer.name!r}: Caffe layer type {ltype!r} is not supported")
        for top in layer.tops:
            shapes[top] = y
        layers.append(layer)
    return CaffeNet(str(msg.get("name", "")), inputs, layers, shapes, params)


__all__ = ["parse_net", "CaffeNet", "Layer", "ParamShapes", "pool_output", "FormatError", "Enum"]
