"""``Model``: run a stored graph on NumPy arrays.

Semantics are fixed float32: weights and inputs are converted to float32 and
every op computes in float32 (BLAS for matrix products), so results match
other float32 engines up to summation order (see spec/GRAPH.md §6).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from ..errors import GraphError
from ..graph.core import Graph, ValueInfo
from ..graph.shapes import infer_shapes
from .fold import LAYERS, fold
from .plan import Planner, Step
from .sparse import Csr, csr_from_reader

F32 = np.float32


CHUNK_BYTES = 4 * 1024 * 1024  # largest per-chunk activation worth keeping together


def _batch_chunk(graph: Graph, shapes: dict[str, Any], consts: Mapping[str, np.ndarray]) -> int | None:
    """Samples per chunk when the graph treats samples independently, else None.

    Independent means: every input and every computed value has the same
    symbolic batch dimension first, and no op reduces, concatenates or
    multiplies across it (Softmax over axis 0, Transpose moving axis 0, MatMul
    with a computed right operand).
    """
    if not graph.inputs:
        return None
    sym = graph.inputs[0].shape[0] if graph.inputs[0].shape else None
    if not isinstance(sym, str) or any(not v.shape or v.shape[0] != sym for v in graph.inputs):
        return None
    largest = 0
    for node in graph.nodes:
        if node.op == "Softmax" and node.attrs["axis"] % len(shapes[node.inputs[0]]) == 0:
            return None
        if node.op == "Transpose" and node.attrs["perm"][0] != 0:
            return None
        if node.op == "MatMul" and node.inputs[1] not in consts:
            return None
        for out in node.outputs:
            shape = shapes[out]
            if not shape or shape[0] != sym:
                return None
            rest = shape[1:]
            per_sample = 4 * int(np.prod([d for d in rest if isinstance(d, int)], dtype=np.int64))
            largest = max(largest, per_sample if all(isinstance(d, int) for d in rest) else CHUNK_BYTES)
    if largest < CHUNK_BYTES // 64:
        return None  # small activations (MLPs, LeNets): whole batches are faster
    # at least two samples even when one sample's largest activation exceeds CHUNK_BYTES: larger
    # matrix products and fewer per-step calls; batch 8 at 224x224, 2 vs 1: MobileNet v2 and v1,
    # SqueezeNet 1.1 3% faster, SqueezeNet 1.0 1-3% slower
    return max(2, CHUNK_BYTES // max(largest, 1))


class Model:
    """A compiled graph plus its float32 weights; call :meth:`run` or the model itself."""

    def __init__(self, graph: Graph, tensors: Mapping[str, np.ndarray], csr: Mapping[str, Any] | None = None) -> None:
        self.graph = graph
        refs = graph.tensor_refs(tensors.keys())
        graph.validate(tensors.keys())
        consts: dict[str, np.ndarray] = {}
        for name in refs:
            arr = np.asarray(tensors[name])
            if arr.dtype.kind not in "fiub":
                raise GraphError(f"tensor {name!r} has dtype {arr.dtype}, which cannot be used as float32", tensor=name)
            consts[name] = np.ascontiguousarray(arr, dtype=F32)
        shapes = infer_shapes(graph, {k: v.shape for k, v in consts.items()})
        sparse: dict[str, Csr] = {}
        layer_weights = {n.inputs[1] for n in graph.nodes if n.op in LAYERS}
        for name, parts in (csr or {}).items():
            if name in layer_weights and isinstance(parts, (tuple, list)) and len(parts) in (3, 5):
                c = csr_from_reader(*parts[:3], consts[name].shape, *parts[3:])  # + (codebook, symbols) from a file
                if c is not None:
                    sparse[name] = c
        self._shapes = shapes
        planner = Planner(consts, shapes, [v.name for v in graph.inputs])
        nodes = fold(graph, consts, sparse)
        planner.note_readers(nodes, [v.name for v in graph.outputs])
        for node in nodes:
            planner.add(node)
        self._steps, self._out_keys = planner.finish([v.name for v in graph.outputs])
        self._const_env = planner.const_env
        self.sparse_layers = sorted(sparse)
        self._chunk = _batch_chunk(graph, shapes, consts)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_graph(cls, graph: Graph, tensors: Mapping[str, np.ndarray], csr: Mapping[str, Any] | None = None) -> "Model":
        """Compile ``graph`` with ``tensors``; ``csr`` maps weight names to (indptr, indices, values), optionally
        followed by (codebook, symbols) with ``values == codebook[symbols]`` (the compact kernel then needs no search
        for the distinct values)."""
        return cls(graph, tensors, csr)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | bytes, precision: str = "float32") -> "Model":
        """Load a .dc file that carries a graph; sparse-encoded layer weights also keep their CSR form.

        ``precision="int8"`` runs it in integers with the file's stored activation parameters (spec/INT8.md),
        returning a :class:`dcformat.int8.model.Int8Model`.
        """
        if precision == "int8":
            from ..int8.model import open_int8

            return open_int8(path)
        if precision != "float32":
            raise ValueError(f"precision must be 'float32' or 'int8', got {precision!r}")
        import dcformat  # the container API; imported late to keep this module free of cycles
        from ..container.materialize import to_csr, to_dense
        from ..container.payload import SparsePayload

        with dcformat.open(path) as f:
            graph = f.graph
            if graph is None:
                raise GraphError("the file has no graph section, so there is nothing to run")
            layer_weights = {n.inputs[1] for n in graph.nodes if n.op in LAYERS}
            tensors: dict[str, np.ndarray] = {}
            csr: dict[str, Any] = {}
            for k in graph.tensor_refs(f.keys()):
                p = f.payload(k, dense=True)  # each weight's streams are decoded once, here
                try:
                    if k in layer_weights and isinstance(p, SparsePayload):  # CSR (codebook + symbols) and dense
                        csr[k], positions = to_csr(p, f.limits)
                        tensors[k] = to_dense(p, f.limits, positions=positions)
                    else:
                        tensors[k] = to_dense(p, f.limits)
                except dcformat.FormatError as exc:
                    raise exc.with_context(tensor=k) if exc.tensor is None else exc from None
        return cls(graph, tensors, csr)

    # -- description ------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[ValueInfo]:
        return list(self.graph.inputs)

    @property
    def outputs(self) -> list[ValueInfo]:
        return list(self.graph.outputs)

    # -- execution -------------------------------------------------------------------------------
    def _bind(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        expected = {v.name: v for v in self.graph.inputs}
        missing = sorted(set(expected) - set(feeds))
        extra = sorted(set(feeds) - set(expected))
        if missing or extra:
            raise ValueError(f"model inputs are {sorted(expected)}; missing {missing}, unexpected {extra}")
        symbols: dict[str, int] = {}
        env: dict[str, np.ndarray] = {}
        for name, info in expected.items():
            arr = np.asarray(feeds[name])
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"input {name!r}: dtype {arr.dtype} is not numeric")
            arr = arr.astype(F32, copy=False)
            if arr.ndim != len(info.shape):
                raise ValueError(f"input {name!r}: expected rank {len(info.shape)} {info.shape}, got shape {arr.shape}")
            for got, want in zip(arr.shape, info.shape):
                if isinstance(want, int) and got != want:
                    raise ValueError(f"input {name!r}: expected shape {info.shape}, got {arr.shape}")
                if isinstance(want, str):
                    if symbols.setdefault(want, got) != got:
                        raise ValueError(f"input {name!r}: dimension {want!r} is {got} here but {symbols[want]} elsewhere")
            env[name] = arr
        return env

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run the graph on ``{input_name: array}`` and return ``{output_name: float32 array}``.

        Convolutional graphs whose samples are independent run a few samples at a
        time so that activations stay in cache (10-15% faster at batch 8 here).
        """
        bound = self._bind(feeds)
        n = next(iter(bound.values())).shape[0] if bound else 0
        if self._chunk is None or n <= self._chunk:
            return self._run_once(bound)
        parts = [self._run_once({k: v[i : i + self._chunk] for k, v in bound.items()}) for i in range(0, n, self._chunk)]
        return {v.name: np.concatenate([p[v.name] for p in parts]) for v in self.graph.outputs}

    def _run_once(self, bound: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, Any] = dict(self._const_env)
        env.update(bound)
        for step in self._steps:
            step.run(env)  # type: ignore[misc]
            for k in step.free:
                del env[k]
        return {v.name: np.array(env[k], dtype=F32, copy=True, order="C") for v, k in zip(self.graph.outputs, self._out_keys)}

    def __call__(self, x: Any) -> np.ndarray:
        """Run a single-input, single-output model on one array."""
        if len(self.graph.inputs) != 1 or len(self.graph.outputs) != 1:
            raise ValueError("model(x) needs exactly one input and one output; use model.run({...})")
        return self.run({self.graph.inputs[0].name: x})[self.graph.outputs[0].name]

    @property
    def steps(self) -> list[Step]:
        """The compiled steps (for profiling and tests)."""
        return list(self._steps)

    def __repr__(self) -> str:
        return f"Model(inputs={[(v.name, v.shape) for v in self.inputs]}, outputs={[(v.name, v.shape) for v in self.outputs]}, steps={len(self._steps)})"
