"""The GRPH section: a validated operator graph stored next to the tensors (spec/GRAPH.md)."""

from .core import GRAPH_VERSION, MAX_GRAPH_BYTES, MAX_NESTING, MAX_NODES, Graph, Node, ValueInfo
from .ops import OPS
from .shapes import infer_shapes

__all__ = ["GRAPH_VERSION", "MAX_GRAPH_BYTES", "MAX_NESTING", "MAX_NODES", "Graph", "Node", "ValueInfo", "OPS", "infer_shapes"]
