"""Build a dcformat Graph from a Caffe deploy prototxt, so converted legacy files can run.

Caffe reuses blob names for in-place layers (``relu`` writes back into
``conv1``); the graph is in SSA form, so such outputs get a fresh name
``<blob>@<layer>``. Pooling uses Caffe's ceil-mode sizes. Layers the graph
has no operator for (e.g. leaky ReLU, LRN within channels) raise ``UnsupportedFeatureError``; the caller
can then store the weights without a graph.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import UnsupportedFeatureError
from .caffe import CaffeNet, Layer, _pair, _param
from .convert import bias_name, weight_name


def _conv_attrs(layer: Layer) -> dict:
    p = _param(layer, "convolution_param")
    (sh, sw), (ph, pw), (dh, dw) = _pair(p, "stride", 1), _pair(p, "pad", 0), _pair(p, "dilation", 1)
    return {"stride": [sh, sw], "padding": [ph, pw, ph, pw], "dilation": [dh, dw], "groups": int(p.get("group", 1))}


def _pool(layer: Layer) -> tuple[str, dict]:
    p = _param(layer, "pooling_param")
    kind = str(p.get("pool", "MAX"))
    if kind in ("0",):
        kind = "MAX"
    if kind in ("1",):
        kind = "AVE"
    if p.get("global_pooling", False):
        if kind != "AVE":
            raise UnsupportedFeatureError(f"layer {layer.name!r}: global {kind} pooling has no graph operator")
        return "GlobalAvgPool", {}
    (kh, kw), (sh, sw), (ph, pw) = _pair(p, "kernel", 0), _pair(p, "stride", 1), _pair(p, "pad", 0)
    attrs = {"kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw, ph, pw], "ceil_mode": True}
    if kind == "MAX":
        return "MaxPool", attrs
    if kind == "AVE":
        # Caffe divides by the window clipped to the padded input: padding counts.
        return "AvgPool", {**attrs, "count_include_pad": True}
    raise UnsupportedFeatureError(f"layer {layer.name!r}: {kind} pooling has no graph operator")


def caffe_graph(net: CaffeNet, tensor_names: Sequence[str]):
    """A validated :class:`dcformat.graph.Graph` for ``net`` whose weights are ``tensor_names``."""
    from ..graph import Graph, Node, ValueInfo  # noqa: PLC0415

    tensors = set(tensor_names)
    current: dict[str, str] = {}  # Caffe blob -> SSA value holding it now
    defined: set[str] = set()
    consumed: set[str] = set()
    nodes: list[Node] = []
    inputs = []
    for blob, shape in net.inputs.items():
        inputs.append(ValueInfo(blob, ("N", *shape[1:])))
        current[blob] = blob
        defined.add(blob)

    def fresh(top: str, layer: Layer) -> str:
        name = top if top not in defined and top not in tensors else f"{top}@{layer.name}"
        defined.add(name)
        current[top] = name
        consumed.discard(top)  # a new value of this blob: unread so far
        return name

    for layer in net.layers:
        t = layer.type
        if t == "Input":
            for top in layer.tops:
                shape = net.shapes[top]
                inputs.append(ValueInfo(top, ("N", *shape[1:])))
                current[top] = top
                defined.add(top)
            continue
        xs = [current[b] for b in layer.bottoms]
        consumed.update(layer.bottoms)
        if t in ("Convolution", "InnerProduct"):
            params = [weight_name(layer.name)]
            if bias_name(layer.name) in tensors:
                params.append(bias_name(layer.name))
            if t == "Convolution":
                nodes.append(Node("Conv2d", layer.name, [xs[0], *params], [fresh(layer.tops[0], layer)], _conv_attrs(layer)))
                continue
            x = xs[0]
            if len(net.shapes[layer.bottoms[0]]) > 2:
                flat = f"{layer.name}/flatten"
                nodes.append(Node("Flatten", flat, [x], [flat], {"axis": 1}))
                defined.add(flat)
                x = flat
            nodes.append(Node("Linear", layer.name, [x, *params], [fresh(layer.tops[0], layer)], {}))
        elif t == "Pooling":
            op, attrs = _pool(layer)
            nodes.append(Node(op, layer.name, xs, [fresh(layer.tops[0], layer)], attrs))
        elif t == "ReLU":
            if float(_param(layer, "relu_param").get("negative_slope", 0.0)) != 0.0:
                raise UnsupportedFeatureError(f"layer {layer.name!r}: leaky ReLU has no graph operator")
            nodes.append(Node("ReLU", layer.name, xs, [fresh(layer.tops[0], layer)], {}))
        elif t == "LRN":
            lp = _param(layer, "lrn_param")
            if str(lp.get("norm_region", "ACROSS_CHANNELS")) not in ("ACROSS_CHANNELS", "0"):
                raise UnsupportedFeatureError(f"layer {layer.name!r}: LRN within channels has no graph operator")
            attrs = {"size": int(lp.get("local_size", 5)), "alpha": float(lp.get("alpha", 1.0)),
                     "beta": float(lp.get("beta", 0.75)), "bias": float(lp.get("k", 1.0))}
            nodes.append(Node("LRN", layer.name, xs, [fresh(layer.tops[0], layer)], attrs))
        elif t == "Dropout":
            ratio = float(_param(layer, "dropout_param").get("dropout_ratio", 0.5))
            nodes.append(Node("Dropout", layer.name, xs, [fresh(layer.tops[0], layer)], {"ratio": ratio}))
        elif t == "Concat":
            axis = int(_param(layer, "concat_param").get("axis", 1))
            nodes.append(Node("Concat", layer.name, xs, [fresh(layer.tops[0], layer)], {"axis": axis}))
        elif t == "Softmax":
            axis = int(_param(layer, "softmax_param").get("axis", 1))
            nodes.append(Node("Softmax", layer.name, xs, [fresh(layer.tops[0], layer)], {"axis": axis}))
        elif t == "Flatten":
            nodes.append(Node("Flatten", layer.name, xs, [fresh(layer.tops[0], layer)], {"axis": 1}))
        else:
            raise UnsupportedFeatureError(f"layer {layer.name!r}: Caffe {t} has no graph operator")
    # Caffe's net outputs are the blobs no layer reads after producing them.
    outputs = []
    for blob, value in current.items():
        if blob not in consumed and value not in {v.name for v in inputs}:
            outputs.append(ValueInfo(value, ("N", *net.shapes[blob][1:])))
    graph = Graph(inputs, outputs, nodes)
    graph.validate(tensors)
    return graph


__all__ = ["caffe_graph"]
