"""ONNX interop: import an ONNX model as (Graph, tensors); export (Graph, tensors) to ONNX.

``onnx`` is an optional extra, imported lazily. Import reads weights from
initializers *and* ``Constant`` nodes (real exported models keep them in
both), folds shape-computation subgraphs (Shape -> Cast -> Slice -> Concat ->
Reshape, as Paddle exports emit) into static Reshape attributes using
symbolic shapes, and maps every remaining node onto dcformat's op set; an
ONNX op or attribute value with no exact mapping raises GraphError naming it.
Each op's mapping, both ways, lives in its module under ``dcformat/ops/``
(``to_onnx`` and ``from_onnx``); this module walks the graphs and folds constants.
Export writes opset 14 (HardSwish) so onnxruntime and ONNX tools can run the
decoded weights.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import GraphError
from .graph.core import Graph, Node, ValueInfo
from .graph.shapes import infer_node, reshape_target
from .ops import ONNX_IMPORT, OPS, canonical_attrs

EXPORT_OPSET = 14
EXPORT_IR_VERSION = 8


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ONNX interop needs the optional 'onnx' package (pip install dcformat[onnx])") from exc
    return onnx


# ----------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------


def export_onnx(graph: Graph | None, tensors: dict[str, np.ndarray], path: str | os.PathLike[str]) -> None:
    """Write an ONNX file; with ``graph=None`` it holds only the tensors as initializers."""
    onnx = _onnx()
    model = to_onnx_model(graph, tensors)
    onnx.save_model(model, os.fspath(path))


def to_onnx_model(graph: Graph | None, tensors: dict[str, np.ndarray]) -> Any:
    """Build the ``onnx.ModelProto`` (see :func:`export_onnx`)."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    used = graph.tensor_refs(tensors.keys()) if graph is not None else sorted(tensors)
    inits = [numpy_helper.from_array(np.ascontiguousarray(tensors[k]), k) for k in used]
    if graph is None:
        g = helper.make_graph([], "dcformat_tensors", [], [], inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", EXPORT_OPSET)], producer_name="dcformat")
        model.ir_version = EXPORT_IR_VERSION
        return model

    graph.validate(tensors.keys())
    ex = OnnxExporter(tensors)
    for n in graph.nodes:
        OPS[n.op].to_onnx(ex, n)  # type: ignore[misc]  # every registered op has one

    def dims(shape: tuple) -> list[Any]:
        return [d if isinstance(d, (int, str)) else None for d in shape]

    ins = [helper.make_tensor_value_info(v.name, TensorProto.FLOAT, dims(v.shape)) for v in graph.inputs]
    outs = [helper.make_tensor_value_info(v.name, TensorProto.FLOAT, dims(v.shape)) for v in graph.outputs]
    g = helper.make_graph(ex.nodes, "dcformat", ins, outs, inits + ex.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", EXPORT_OPSET)], producer_name="dcformat")
    model.ir_version = EXPORT_IR_VERSION
    onnx.checker.check_model(model)
    return model


class OnnxExporter:
    """What an op's ``to_onnx`` rule writes with: ONNX nodes, helper constants and temporary value names."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.tensors = tensors
        self.nodes: list[Any] = []
        self.inits: list[Any] = []  # constants the mapping needs (Clip bounds, Split sizes, shapes)
        self._counter = 0

    def node(self, op_type: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(self.helper.make_node(op_type, list(inputs), list(outputs), name, **attrs))

    def const(self, value: Any, dtype: Any = np.int64) -> str:
        self._counter += 1
        name = f"__dc_const_{self._counter}"
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def tmp(self) -> str:
        self._counter += 1
        return f"__dc_tmp_{self._counter}"


# ----------------------------------------------------------------------------------------------
# import
# ----------------------------------------------------------------------------------------------

# ONNX ops whose inputs are all constants only because their weights are: layers to import, not values to fold
_STORED_INPUTS = frozenset(t for d in OPS.values() if d.const_inputs for t in d.from_onnx)


class OnnxImporter:
    """Walks an ONNX graph in order, tracking constants and symbolic shapes of values."""

    def __init__(self, model: Any) -> None:
        onnx = _onnx()
        from onnx import numpy_helper

        self.nh = numpy_helper
        self.helper = onnx.helper
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.g = model.graph
        self.consts: dict[str, np.ndarray] = {}  # every constant-valued name (weights and folded values)
        self.symbolic: dict[str, list[Any]] = {}  # int vectors holding symbolic dims (shape computations)
        self.shapes: dict[str, tuple] = {}
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}  # Identity-like renames of values
        self.names: set[str] = set()

    def fail(self, node: Any, why: str) -> GraphError:
        return GraphError(f"ONNX node {node.name!r} ({node.op_type}): {why}")

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.helper.get_attribute_value(a) for a in node.attribute}

    def val(self, name: str) -> str:
        return self.alias.get(name, name)

    def run(self) -> tuple[Graph, dict[str, np.ndarray]]:
        for t in self.g.initializer:
            self.consts[t.name] = self.nh.to_array(t)
            self.shapes[t.name] = tuple(self.consts[t.name].shape)
        inputs = []
        for v in self.g.input:
            if v.name in self.consts:
                continue
            tt = v.type.tensor_type
            if tt.elem_type != 1:
                raise GraphError(f"ONNX input {v.name!r}: only float32 inputs are supported (elem_type {tt.elem_type})")
            shape = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(int(d.dim_value))
                else:
                    shape.append("N" if i == 0 else f"d{len(inputs)}_{i}")
            info = ValueInfo(_safe_name(v.name), tuple(shape))
            self.alias[v.name] = info.name
            inputs.append(info)
            self.shapes[info.name] = info.shape
        for node in self.g.node:
            self.convert(node)
        used = {i for n in self.nodes for i in n.inputs}
        tensors = {k: np.ascontiguousarray(v) for k, v in self.consts.items() if k in used}
        for k, v in tensors.items():
            if v.dtype != np.float32:
                if v.dtype.kind != "f" and v.dtype.kind not in "iu":
                    raise GraphError(f"ONNX tensor {k!r} has unsupported dtype {v.dtype}")
                tensors[k] = v.astype(np.float32)
        outputs = []
        for v in self.g.output:
            name = self.val(v.name)
            if name in self.consts:
                raise GraphError(f"ONNX output {v.name!r} is a constant; nothing to compute")
            outputs.append(ValueInfo(name, tuple(self.shapes.get(name, ()))))
        graph = Graph(inputs, outputs, self.nodes)
        graph.validate(tensors.keys())
        return graph, tensors

    def emit(self, op: str, node: Any, inputs: list[str], outputs: list[str] | None = None, **attrs: Any) -> None:
        outs = [self.val(o) for o in (outputs or list(node.output))]
        name = node.name or f"{op}_{len(self.nodes)}"
        while name in self.names:
            name += "_"
        self.names.add(name)
        n = Node(op, name, [self.val(i) for i in inputs], outs, canonical_attrs(op, name, attrs))
        try:
            shapes = infer_node(n, [self.shapes[i] for i in n.inputs])
        except KeyError as exc:
            raise self.fail(node, f"input {exc.args[0]!r} is not defined") from None
        for o, s in zip(outs, shapes):
            self.shapes[o] = s
        self.nodes.append(n)

    def const_of(self, node: Any, name: str) -> np.ndarray:
        if name not in self.consts:
            raise self.fail(node, f"input {name!r} must be a constant")
        return self.consts[name]

    def fold_const(self, node: Any, value: np.ndarray) -> None:
        self.consts[node.output[0]] = np.asarray(value)
        self.shapes[node.output[0]] = tuple(np.asarray(value).shape)

    def convert(self, node: Any) -> None:
        op, a = node.op_type, self.attrs(node)
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(node, f"operator domain {node.domain!r} is not supported")
        ins = list(node.input)
        present = [i for i in ins if i]
        # --- constants and constant folding ------------------------------------------------------
        if op == "Constant":
            if "value" in a:
                self.fold_const(node, self.nh.to_array(a["value"]))
            elif set(a) & {"value_float", "value_floats", "value_int", "value_ints"}:
                key = next(iter(set(a) & {"value_float", "value_floats", "value_int", "value_ints"}))
                self.fold_const(node, np.asarray(a[key], dtype=np.float32 if "float" in key else np.int64))
            else:
                raise self.fail(node, f"only numeric constants are supported, got {sorted(a)}")
            return
        if op == "Shape":
            shape = self.shapes.get(self.val(ins[0]))
            if shape is None:
                raise self.fail(node, "input shape unknown")
            if all(isinstance(d, int) for d in shape):
                self.fold_const(node, np.array(shape, dtype=np.int64))
            else:
                self.symbolic[node.output[0]] = list(shape)
            return
        if op == "Reshape" and len(ins) > 1 and ins[1] in self.symbolic:
            self.symbolic_reshape(node, ins)
            return
        sym_inputs = [i for i in present if i in self.symbolic]
        if sym_inputs or (present and all(i in self.consts for i in present) and op not in _STORED_INPUTS):
            self.fold(node, op, a, ins)
            return
        # --- real ops: each ONNX op type is claimed by one op module (dcformat/ops/) ----------------
        rule = ONNX_IMPORT.get(op)
        if rule is None:
            raise self.fail(node, f"unsupported ONNX op {op!r}")
        rule(self, node, a, ins)

    def new_const(self, base: str, value: np.ndarray) -> str:
        if base in self.consts and self.consts[base].shape == value.shape and np.array_equal(self.consts[base], value):
            return base
        name = base + ".linear"
        while name in self.consts:
            name += "_"
        self.consts[name] = value
        self.shapes[name] = value.shape
        return name

    def fold(self, node: Any, op: str, a: dict[str, Any], ins: list[str]) -> None:
        """Evaluate an op whose inputs are all constants (or symbolic shape vectors) at import time."""
        def get(name: str) -> Any:
            if name in self.symbolic:
                return list(self.symbolic[name])
            return self.consts[name]

        out = node.output[0]
        x = [get(i) if i else None for i in ins]
        sym = any(isinstance(v, list) for v in x)
        if sym:
            value = self._fold_symbolic(node, op, a, x)
            if all(isinstance(d, (int, np.integer)) for d in value):
                self.fold_const(node, np.array(value, dtype=np.int64))
            else:
                self.symbolic[out] = value
            return
        if op == "Reshape":
            shape = [int(s) for s in x[1].reshape(-1)]
            target = reshape_target(Node("Reshape", node.name, [], []), x[0].shape, shape)
            self.fold_const(node, x[0].reshape([int(d) for d in target]))
        elif op == "Cast":
            self.fold_const(node, x[0].astype(self.helper.tensor_dtype_to_np_dtype(int(a["to"]))))
        elif op in ("Add", "Sub", "Mul", "Div"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
            r = f(x[0], x[1])
            self.fold_const(node, r.astype(np.result_type(x[0], x[1])) if op != "Div" or x[0].dtype.kind == "f" else x[0] // x[1])
        elif op in ("Identity", "Dropout"):
            self.fold_const(node, x[0])
        elif op == "Concat":
            self.fold_const(node, np.concatenate(x, axis=int(a["axis"])))
        elif op == "Transpose":
            self.fold_const(node, np.transpose(x[0], a.get("perm")))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = a.get("axes") if "axes" in a else (x[1].reshape(-1).tolist() if len(x) > 1 and x[1] is not None else None)
            if op == "Unsqueeze":
                r = x[0]
                for ax in sorted(int(v) % (r.ndim + 1 + len(axes) - 1) for v in axes):
                    r = np.expand_dims(r, ax)
                self.fold_const(node, r)
            else:
                self.fold_const(node, np.squeeze(x[0], axis=tuple(axes) if axes is not None else None))
        elif op == "Slice":
            self.fold_const(node, np.asarray(self._slice(node, a, x, x[0])))
        elif op == "Gather":
            self.fold_const(node, np.take(x[0], x[1], axis=int(a.get("axis", 0))))
        else:
            raise self.fail(node, f"cannot evaluate {op!r} on constant inputs")

    def _slice(self, node: Any, a: dict[str, Any], x: list[Any], data: Any) -> Any:
        if self.opset >= 10:
            starts, ends = x[1], x[2]
            axes = x[3] if len(x) > 3 and x[3] is not None else range(len(starts))
            steps = x[4] if len(x) > 4 and x[4] is not None else [1] * len(starts)
        else:
            starts, ends, axes = a["starts"], a["ends"], a.get("axes", range(len(a["starts"])))
            steps = [1] * len(starts)
        arr = data if isinstance(data, np.ndarray) else None
        if arr is None:  # a symbolic 1-D shape vector: python list slicing
            if list(np.asarray(axes).reshape(-1)) not in ([0], []):
                raise self.fail(node, "symbolic Slice must be over axis 0")
            s, e, st = int(np.asarray(starts).reshape(-1)[0]), int(np.asarray(ends).reshape(-1)[0]), int(np.asarray(steps).reshape(-1)[0])
            n = len(data)
            e = max(min(e, n), -n - 1)
            return data[slice(s, e, st)]
        idx = [slice(None)] * arr.ndim
        for s, e, ax, st in zip(np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1), np.asarray(axes).reshape(-1), np.asarray(steps).reshape(-1)):
            n = arr.shape[int(ax)]
            idx[int(ax)] = slice(int(s), int(max(min(e, n), -n - 1)), int(st))
        return arr[tuple(idx)]

    def _fold_symbolic(self, node: Any, op: str, a: dict[str, Any], x: list[Any]) -> list[Any]:
        """Shape-vector arithmetic with symbolic entries (only what shape subgraphs use)."""
        if op == "Cast":
            return x[0]
        if op == "Slice":
            return list(self._slice(node, a, x, x[0]))
        if op == "Concat":
            out: list[Any] = []
            for v in x:
                out += v if isinstance(v, list) else [int(t) for t in np.asarray(v).reshape(-1)]
            return out
        if op == "Gather" and not isinstance(x[1], list):
            idx = np.asarray(x[1])
            picked = [x[0][int(i)] for i in idx.reshape(-1)]
            return picked if idx.ndim else picked[:1]
        if op in ("Unsqueeze", "Squeeze", "Identity"):
            return x[0]
        if op == "Reshape" and isinstance(x[1], list):
            raise self.fail(node, "reshape by a symbolic shape of a computed value")
        raise self.fail(node, f"cannot evaluate {op!r} on a symbolic shape")

    def symbolic_reshape(self, node: Any, ins: list[str]) -> None:
        """Reshape to a computed shape: entries equal to the input's dim at that position become 0 (copy)."""
        target = self.symbolic[ins[1]]
        src = self.shapes[self.val(ins[0])]
        shape = []
        for i, d in enumerate(target):
            if isinstance(d, (int, np.integer)):
                shape.append(int(d))
            elif i < len(src) and src[i] == d:
                shape.append(0)
            else:
                shape.append(-1)
        if shape.count(-1) > 1:
            raise self.fail(node, f"reshape target {target} has more than one unknown entry")
        self.emit("Reshape", node, ins[:1], shape=shape)


def _safe_name(name: str) -> str:
    return name if name else "input"


def import_onnx(source: str | os.PathLike[str] | bytes) -> tuple[Graph, dict[str, np.ndarray]]:
    """Read an ONNX model (path or serialized bytes) as a validated Graph plus float32 tensors."""
    onnx = _onnx()
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            model = onnx.load_model_from_string(bytes(source))
        else:
            model = onnx.load_model(os.fspath(source), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends from protobuf
        raise GraphError(f"not a readable ONNX model: {type(exc).__name__}: {exc}") from None
    try:
        return OnnxImporter(model).run()
    except GraphError:
        raise
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        # malformed models (missing attributes, inconsistent constants) end here, named
        raise GraphError(f"ONNX model cannot be imported: {type(exc).__name__}: {exc}") from None
