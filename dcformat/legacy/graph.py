"""Build a dcformat Graph from a Caffe deploy prototxt, so converted legacy files can run.

Caffe reuses blob names for in-place layers (``relu`` writes back into
``conv1``); the graph is in SSA form, so such outputs get a fresh name
``<blob>@<layer>``. Pooling uses Caffe's ceil-mode sizes. Layers the graph
has no operator for (e.g. leaky ReLU, LRN within channels) raise ``UnsupportedFeatureError``; the caller
can then store the weights without a graph. Each layer type's mapping lives in
the op module that claims it (``from_caffe`` in ``dcformat/ops/``).
"""

from __future__ import annotations

from typing import Sequence

from typing import Any, Callable

from ..errors import UnsupportedFeatureError
from ..ops import CAFFE_IMPORT
from .caffe import CaffeNet, Layer, _pair, _param
from .convert import bias_name, weight_name


class CaffeBuilder:
    """What an op's ``from_caffe`` rule builds with: the net, its parameters and the SSA node list."""

    def __init__(self, net: CaffeNet, tensors: set[str], nodes: list[Any], fresh: Callable[[str, Layer], str], defined: set[str]) -> None:
        self.net, self.tensors, self.nodes, self._fresh, self._defined = net, tensors, nodes, fresh, defined

    param = staticmethod(_param)  # (layer, "convolution_param") -> that message's fields
    pair = staticmethod(_pair)  # (param, "stride", default) -> (h, w)

    def add(self, op: str, layer: Layer, inputs: list[str], attrs: dict[str, Any]) -> None:
        """A node named after the layer, writing a fresh SSA value for its (first) top blob."""
        from ..graph import Node

        self.nodes.append(Node(op, layer.name, inputs, [self._fresh(layer.tops[0], layer)], attrs))

    def params(self, layer: Layer) -> list[str]:
        """The stored weight and, if the file has one, bias of a Convolution / InnerProduct layer."""
        names = [weight_name(layer.name)]
        if bias_name(layer.name) in self.tensors:
            names.append(bias_name(layer.name))
        return names

    def flatten(self, layer: Layer, x: str) -> str:
        """A Flatten node in front of ``layer`` (Caffe's InnerProduct flattens its input itself)."""
        from ..graph import Node

        flat = f"{layer.name}/flatten"
        self.nodes.append(Node("Flatten", flat, [x], [flat], {"axis": 1}))
        self._defined.add(flat)
        return flat


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

    builder = CaffeBuilder(net, tensors, nodes, fresh, defined)
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
        rule = CAFFE_IMPORT.get(t)  # each Caffe layer type is claimed by one op module (dcformat/ops/)
        if rule is None:
            raise UnsupportedFeatureError(f"layer {layer.name!r}: Caffe {t} has no graph operator")
        rule(builder, layer, xs)
    # Caffe's net outputs are the blobs no layer reads after producing them.
    outputs = []
    for blob, value in current.items():
        if blob not in consumed and value not in {v.name for v in inputs}:
            outputs.append(ValueInfo(value, ("N", *net.shapes[blob][1:])))
    graph = Graph(inputs, outputs, nodes)
    graph.validate(tensors)
    return graph


__all__ = ["caffe_graph"]
