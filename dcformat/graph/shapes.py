"""Shape inference over symbolic dimensions.

Ranks are always known; a dimension is an int, a symbol shared with an input
(e.g. the batch "N"), or None when it depends on unknown sizes. Inference is
how a file's weights are checked against the graph before anything runs
(a mismatch is a GraphError naming the node), and it tells the runtime each
value's rank for its layout choices. Each op's rule lives in its module under
:mod:`dcformat.ops`; the shared arithmetic in ``dcformat.ops._shape``.
"""

from __future__ import annotations

from typing import Mapping

from ..errors import GraphError
from ..ops import OPS
from ..ops._shape import broadcast, conv_out, conv_output_size, pool_out, reshape_target
from ..ops._shape import fail as _fail
from .core import Dim, Graph, Node

__all__ = ["Shape", "infer_node", "infer_shapes", "broadcast", "conv_out", "conv_output_size", "pool_out", "reshape_target"]

Shape = tuple[Dim, ...]


def infer_node(node: Node, ins: list[Shape]) -> list[Shape]:
    """Output shapes of one node from its input shapes (attrs must be canonical): the op module's shape rule."""
    return OPS[node.op].shape(node, ins)  # type: ignore[misc]  # every registered op has one


def infer_shapes(graph: Graph, tensor_shapes: Mapping[str, Shape], input_shapes: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
    """Shapes of every value and tensor the graph touches; GraphError on any inconsistency."""
    shapes: dict[str, Shape] = {k: tuple(v) for k, v in tensor_shapes.items()}
    for v in graph.inputs:
        shapes[v.name] = tuple(input_shapes[v.name]) if input_shapes and v.name in input_shapes else tuple(v.shape)
    for node in graph.nodes:
        try:
            ins = [shapes[i] for i in node.inputs]
        except KeyError as exc:
            raise GraphError(f"node {node.name!r}: input {exc.args[0]!r} has no known shape") from None
        outs = infer_node(node, ins)
        for name, s in zip(node.outputs, outs):
            if any(isinstance(d, int) and d < 0 for d in s):
                raise _fail(node, f"negative output dimension {s}")
            shapes[name] = s
    for v in graph.outputs:
        got = shapes[v.name]
        if len(got) != len(v.shape):
            raise GraphError(f"output {v.name!r}: declared rank {len(v.shape)} but the graph computes shape {got}", field="shape")
        for d, e in zip(got, v.shape):
            if isinstance(d, int) and isinstance(e, int) and d != e:
                raise GraphError(f"output {v.name!r}: declared shape {v.shape} but the graph computes {got}", field="shape")
    return shapes
