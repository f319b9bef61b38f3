"""``Int8Model``: a :class:`~dcformat.inference.model.Model` whose steps run in int8 (spec/INT8.md).

Built by ``Model.open(path, precision="int8")`` from a file whose metadata has
``dcformat.int8`` parameters (``dcformat quantize-activations`` writes them).
Inputs and outputs stay float32; nodes without an int8 rule or parameters run
in float and are listed by :meth:`precision_report` (and a warning at load, except the nodes producing graph
outputs the file chose to keep in float).
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from ..errors import GraphError
from ..graph.core import Graph
from ..graph.shapes import infer_shapes
from ..inference.fold import fold
from ..inference.model import F32, Model
from ..inference.plan import Planner
from .calibrate import output_values
from .params import Int8Params
from .plan import Decision, Int8Planner


class Int8Model(Model):
    """Integer inference of a graph with stored activation parameters."""

    def __init__(self, graph: Graph, tensors: Mapping[str, np.ndarray], params: Int8Params, *, warn: bool = True) -> None:
        self.graph = graph
        graph.validate(tensors.keys())
        consts: dict[str, np.ndarray] = {}
        for name in graph.tensor_refs(tensors.keys()):
            arr = np.asarray(tensors[name])
            if arr.dtype.kind not in "fiub":
                raise GraphError(f"tensor {name!r} has dtype {arr.dtype}, which cannot be used as float32", tensor=name)
            consts[name] = np.ascontiguousarray(arr, dtype=F32)
        shapes = infer_shapes(graph, {k: v.shape for k, v in consts.items()})
        self._shapes = dict(shapes)
        planner = Planner(consts, dict(shapes), [v.name for v in graph.inputs])
        planner.note_readers([], [])  # no producer-side float fusions across representation changes
        nodes = fold(graph, consts, {})
        self.params = params
        q = Int8Planner(planner, params.activations)
        for v in graph.inputs:
            q.graph_input(v.name)
        for node in nodes:
            q.add(node)
        outs = [q.output(v.name) for v in graph.outputs]
        self._steps, self._out_keys = planner.finish(outs)
        self._const_env = planner.const_env
        self.sparse_layers = []
        self._chunk = None
        self._report = q.report
        self._int8 = q
        self.lnodes = nodes
        floats = [d for d in q.report if d.precision == "float"]
        # Nodes that produce a graph output the file stores no parameters for run in float by the file's choice
        # (calibrated with float outputs, the default): reported, but not warned about.
        chosen = set(output_values(graph)) - set(params.activations)
        outputs_of = {n.name: set(n.outputs) for n in nodes}
        floats = [d for d in floats if not (outputs_of.get(d.node) and outputs_of[d.node] <= chosen)]
        if warn and floats:
            warnings.warn(f"int8: {len(floats)} of {len(q.report)} nodes run in float: "
                          + ", ".join(f"{d.node} ({d.op}: {d.why})" for d in floats[:8]) + (" ..." if len(floats) > 8 else ""),
                          stacklevel=3)

    def precision_report(self) -> list[Decision]:
        """One entry per (folded) node: its precision and, for float nodes, why."""
        return list(self._report)

    def float_nodes(self) -> list[str]:
        return [d.node for d in self._report if d.precision == "float"]

    def run_int8(self, feeds: Mapping[str, Any], forced: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Run and return every int8 value (logical NCHW layout), for conformance checks against other engines.

        ``forced`` ({value: int8 array, NCHW}) replaces those values wherever a step reads them, so each node's
        output can be compared with another engine's on identical inputs (no propagation of earlier differences).
        """
        env: dict[str, Any] = dict(self._const_env)
        env.update(self._bind(feeds))
        by_key = {k: v for v, k in self._int8.qkey.items()}
        out: dict[str, np.ndarray] = {}
        for step in self._steps:
            for k in step.reads:
                v = by_key.get(k)
                if forced is not None and v is not None and v in forced:
                    env[k] = self._physical(np.asarray(forced[v], dtype=np.int8), k)
            step.run(env)  # type: ignore[misc]
            for k in step.writes:
                if k in by_key:
                    out[by_key[k]] = self._logical(env[k], k)
        return out

    def _physical(self, a: np.ndarray, key: str) -> np.ndarray:
        from ..ops._base import NHWC

        if self._int8.P.layout.get(key) == NHWC and a.ndim == 4:
            return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        return a

    def _logical(self, a: np.ndarray, key: str) -> np.ndarray:
        from ..ops._base import NHWC

        if self._int8.P.layout.get(key) == NHWC and a.ndim == 4:
            return np.ascontiguousarray(a.transpose(0, 3, 1, 2))
        return a

    def __repr__(self) -> str:
        n = sum(d.precision == "int8" for d in self._report)
        return f"Int8Model(int8 nodes={n}/{len(self._report)}, steps={len(self._steps)})"


def open_int8(path: Any, *, warn: bool = True) -> Int8Model:
    """Load a .dc file with int8 parameters (``Model.open(path, precision="int8")``)."""
    import dcformat

    with dcformat.open(path) as f:
        graph = f.graph
        if graph is None:
            raise GraphError("the file has no graph section, so there is nothing to run")
        params = Int8Params.from_metadata(f.metadata, graph)
        if params is None:
            from ..errors import MetadataError

            raise MetadataError("the file has no int8 parameters; run `dcformat quantize-activations model.dc --calib "
                                "samples.npz -o model-int8.dc` first", field="dcformat.int8")
        tensors = {k: f.tensor(k) for k in graph.tensor_refs(f.keys())}
    return Int8Model(graph, tensors, params, warn=warn)
